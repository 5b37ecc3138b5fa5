"""Displacement in mm, spectra at regions and deflection shapes, checked against exact motion.

    python examples/measure_in_mm.py

A synthetic speckle plate (vibmag.synthetic) with two bending modes, 8-bit
noise and a pixel size of 0.05 mm is measured as a real recording would be;
every number is printed next to the truth.
"""

from __future__ import annotations

import numpy as np

import vibmag
from vibmag.analysis import deflection_shape, find_peaks, mac
from vibmag.synthetic import Mode, vibrating_plate


def main() -> int:
    ds = vibrating_plate((64, 96), n_frames=128, frame_rate="1 kHz", pixel_size="0.05 mm", noise=1 / 255, bit_depth=8, seed=2,
                         modes=[Mode("42 Hz", 0.3, direction=90, shape="bending"), Mode("155 Hz", 0.08, direction=90, shape="bending2")])
    truth = ds["true_displacement"]

    disp = vibmag.estimate_displacement(ds, progress=False)     # px, carries the pixel size
    disp_mm = vibmag.to_physical(disp)                           # mm
    truth_mm = vibmag.to_physical(truth.assign_attrs(disp.attrs))

    # accuracy of the displacement itself, away from the frame's edges
    inner = dict(y=slice(8, -8), x=slice(8, -8))
    rms_um = 1000 * float(np.sqrt(((disp_mm - truth_mm).isel(**inner) ** 2).mean()))
    print(f"displacement error: RMS {rms_um:.2f} um ({rms_um / 50:.4f} px)")

    # waveform at a point: the plate's middle
    middle = vibmag.waveform(disp_mm, point=(32, 48)).sel(component="y")
    print(f"middle of the plate: {1000 * float(middle.max() - middle.min()) / 2:.2f} um half peak-to-peak")

    # peaks of the spectrum over a region, measured and true
    plate = (8, 8, 56, 88)
    measured, exact = (find_peaks(vibmag.spectrum(d, region=plate), n=2) for d in (disp_mm, truth_mm))
    for k in range(2):
        f, a = float(measured["frequency"][k]), 1000 * float(measured["amplitude"][k].sel(component="y"))
        ft, at = float(exact["frequency"][k]), 1000 * float(exact["amplitude"][k].sel(component="y"))
        shape, shape_true = (deflection_shape(d, f"{f} Hz").isel(**inner).values for d in (disp_mm, truth_mm))
        print(f"peak {f:7.2f} Hz (true {ft:7.2f}): amplitude {a:6.3f} um (true {at:6.3f}), deflection shape MAC {float(mac(shape, shape_true)):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
