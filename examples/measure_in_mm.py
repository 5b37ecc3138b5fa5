"""Displacement in mm, spectra at regions and deflection shapes, checked against exact motion.

    python examples/measure_in_mm.py

A synthetic speckle plate (vibmag.synthetic) with two bending modes, 8-bit
noise and a pixel size of 0.05 mm is measured as a real recording would be;
every number is printed next to the truth and checked against it: the script
fails (exit status 1) when one is further off than the tolerance it states.
"""

from __future__ import annotations

import numpy as np

import vibmag
from vibmag.analysis import deflection_shape, find_peaks, mac
from vibmag.synthetic import Mode, vibrating_plate


def check(what: str, measured: float, truth: float, tolerance: float, failures: list) -> None:
    """Record a failure when ``measured`` is further than ``tolerance`` from ``truth``."""
    if not abs(measured - truth) <= tolerance:
        failures.append(f"{what}: measured {measured:.4g}, true {truth:.4g}, tolerance {tolerance:.4g}")


def main() -> int:
    ds = vibrating_plate((64, 96), n_frames=128, frame_rate="1 kHz", pixel_size="0.05 mm", noise=1 / 255, bit_depth=8, seed=2,
                         modes=[Mode("42 Hz", 0.3, direction=90, shape="bending"), Mode("155 Hz", 0.08, direction=90, shape="bending2")])
    truth = ds["true_displacement"]

    disp = vibmag.estimate_displacement(ds, progress=False)     # px, carries the pixel size
    disp_mm = vibmag.to_physical(disp)                           # mm
    truth_mm = vibmag.to_physical(truth.assign_attrs(disp.attrs))

    failures: list[str] = []
    # accuracy of the displacement itself, away from the frame's edges: a fiftieth of a pixel (1 um) at most
    inner = dict(y=slice(8, -8), x=slice(8, -8))
    rms_um = 1000 * float(np.sqrt(((disp_mm - truth_mm).isel(**inner) ** 2).mean()))
    print(f"displacement error: RMS {rms_um:.2f} um ({rms_um / 50:.4f} px), tolerance 1 um")
    check("displacement RMS error (um)", rms_um, 0.0, 1.0, failures)

    # waveform at a point: the plate's middle; its half peak-to-peak within 5 %
    middle, middle_true = (vibmag.waveform(d, point=(32, 48)).sel(component="y") for d in (disp_mm, truth_mm))
    half, half_true = (1000 * float(w.max() - w.min()) / 2 for w in (middle, middle_true))
    print(f"middle of the plate: {half:.2f} um half peak-to-peak (true {half_true:.2f})")
    check("middle of the plate, half peak-to-peak (um)", half, half_true, 0.05 * half_true, failures)

    # peaks of the spectrum over a region, measured and true: frequency within 0.1 Hz (an 80th of the
    # 7.8 Hz resolution), amplitude within 3 %, deflection shape MAC at least 0.99
    plate = (8, 8, 56, 88)
    measured, exact = (find_peaks(vibmag.spectrum(d, region=plate), n=2) for d in (disp_mm, truth_mm))
    for k in range(2):
        f, a = float(measured["frequency"][k]), 1000 * float(measured["amplitude"][k].sel(component="y"))
        ft, at = float(exact["frequency"][k]), 1000 * float(exact["amplitude"][k].sel(component="y"))
        shape, shape_true = (deflection_shape(d, f"{f} Hz").isel(**inner).values for d in (disp_mm, truth_mm))
        similarity = float(mac(shape, shape_true))
        print(f"peak {f:7.2f} Hz (true {ft:7.2f}): amplitude {a:6.3f} um (true {at:6.3f}), deflection shape MAC {similarity:.4f}")
        check(f"peak {k + 1} frequency (Hz)", f, ft, 0.1, failures)
        check(f"peak {k + 1} amplitude (um)", a, at, 0.03 * at, failures)
        check(f"peak {k + 1} deflection shape MAC", similarity, 1.0, 0.01, failures)
    if failures:
        print("OFF THE TRUTH:\n  " + "\n  ".join(failures))
        return 1
    print("every number within its tolerance of the truth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
