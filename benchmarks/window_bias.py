"""Where the wide window's amplitude bias comes from: mode-shape curvature or the frame's edge (issue 14).

Usage: python benchmarks/window_bias.py

docs/flow.md gives `max_window=6` a -4 % region-mean amplitude on a 155 Hz mode of 96 px
wavelength (examples/measure_in_mm.py's 64x96 px plate). This script separates the two causes a
wide Gaussian window has for such a bias, with vibmag's estimator and the scenes' exact
displacement (nothing else judges):

* curvature: noise-free 256x256 speckle plates with one mode ``0.3 px * sin(2 pi (x + 0.5) / L)``
  along y, wavelengths L = 48, 96, 192 px; gain = least-squares amplitude of the measured y
  displacement on the true one over the interior (20 px from every edge), frames 1..4;
* the frame's edge: examples/measure_in_mm.py's plate (two bending modes, 128 frames at 1 kHz,
  noise 1/255, 8-bit, and the same rendered noise-free), the 155 Hz mode's gain per column x
  (the mode's own share of each column's vibration, rows 8..56) and the region-mean spectrum
  amplitude over measure_in_mm's region (8, 8, 56, 88) and over one 12 px further from the edges.

Prints markdown tables; the figures are quoted in docs/flow.md.
"""

from __future__ import annotations

import numpy as np

import vibmag
from vibmag.analysis import find_peaks
from vibmag.synthetic import Mode, vibrating_plate

WINDOWS = {"default (window=3)": {}, "window=6": {"window": 6.0}, "max_window=6": {"max_window": 6.0}}
BORDER = 20
COLUMNS = (4, 8, 12, 18, 24)


def sine_mode(wavelength: float):
    """A mode shape ``sin(2 pi (x + 0.5) / wavelength)``, as ``Mode(shape=...)`` takes it."""
    return lambda y, x: np.sin(2 * np.pi * (x + 0.5) / wavelength)


def curvature_gain(wavelength: float, options: dict) -> float:
    """Measured over true amplitude of a noise-free plate with one mode of ``wavelength`` px, interior only."""
    ds = vibrating_plate((256, 256), n_frames=5, frame_rate="500 Hz", seed=1,
                         modes=[Mode("125 Hz", 0.3, direction=90.0, shape=sine_mode(wavelength))])
    measured = vibmag.estimate_displacement(ds, progress=False, **options).values
    truth = ds["true_displacement"].values
    inner = (slice(1, None), slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return float((measured[inner] * truth[inner]).sum() / (truth[inner] ** 2).sum())


def measure_in_mm_plate(noise: bool):
    """examples/measure_in_mm.py's plate, with its noise and 8-bit quantisation or rendered noise-free."""
    modes = [Mode("42 Hz", 0.3, direction=90, shape="bending"), Mode("155 Hz", 0.08, direction=90, shape="bending2")]
    extra = {"noise": 1 / 255, "bit_depth": 8} if noise else {}
    return vibrating_plate((64, 96), n_frames=128, frame_rate="1 kHz", pixel_size="0.05 mm", seed=2, modes=modes, **extra)


def column_gains(measured: np.ndarray, truth: np.ndarray, frequency_bin: int) -> np.ndarray:
    """Per column x: the 155 Hz component of the measured y displacement over the true one (rows 8..56)."""
    spectra = [np.fft.rfft(v[:, 1, 8:56, :] - v[:, 1, 8:56, :].mean(0), axis=0)[frequency_bin] for v in (measured, truth)]
    return (np.abs(spectra[0]) * np.sign((spectra[0] * np.conj(spectra[1])).real)).mean(0) / np.abs(spectra[1]).mean(0)


def region_gain(disp, truth, region) -> float:
    """Region-mean spectrum amplitude of the 155 Hz peak (the second of two), measured over true."""
    measured, exact = (find_peaks(vibmag.spectrum(d, region=region), n=2) for d in (disp, truth))
    pick = [int(np.argmin(np.abs(p["frequency"].values - 155.0))) for p in (measured, exact)]
    return float(measured["amplitude"][pick[0]].sel(component="y")) / float(exact["amplitude"][pick[1]].sel(component="y"))


def main() -> None:
    print("| window | " + " | ".join(f"gain, L = {w} px" for w in (48, 96, 192)) + " |\n|---|---|---|---|")
    for name, options in WINDOWS.items():
        print(f"| {name} | " + " | ".join(f"{curvature_gain(w, options):.4f}" for w in (48, 96, 192)) + " |", flush=True)
    print("\n| window | frames | region (8, 8, 56, 88) | region (20, 20, 44, 76) | "
          + " | ".join(f"column x = {x}" for x in COLUMNS) + " |\n" + "|---" * (4 + len(COLUMNS)) + "|")
    for noise in (True, False):
        ds = measure_in_mm_plate(noise)
        truth = ds["true_displacement"]
        frequency_bin = round(155.0 * ds.sizes["time"] / 1000.0)
        for name, options in WINDOWS.items():
            disp = vibmag.estimate_displacement(ds, progress=False, **options)
            gains = column_gains(disp.values, truth.values, frequency_bin)
            regions = [region_gain(disp, truth.assign_attrs(disp.attrs), r) for r in ((8, 8, 56, 88), (20, 20, 44, 76))]
            print(f"| {name} | {'noise 1/255, 8-bit' if noise else 'noise-free'} | {regions[0]:.3f} | {regions[1]:.3f} | "
                  + " | ".join(f"{gains[x]:.3f}" for x in COLUMNS) + " |", flush=True)


if __name__ == "__main__":
    main()
