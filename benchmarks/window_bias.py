"""Where the wide window's amplitude bias comes from: mode-shape curvature or the frame's edge (issue 14).

Usage: python benchmarks/window_bias.py

docs/flow.md gives `max_window=6` a -3.4 % region-mean amplitude on a 155 Hz mode of 96 px
wavelength (examples/measure_in_mm.py's 64x96 px plate). This script separates the two causes a
wide Gaussian window has for such a bias, with vibmag's estimator and the scenes' exact
displacement (nothing else judges):

* curvature: noise-free 256x256 speckle plates with one mode ``0.3 px * sin(2 pi (x + 0.5) / L)``
  along y, wavelengths L = 48, 96, 192 px; gain = least-squares amplitude of the measured y
  displacement on the true one over the interior (20 px from every edge), frames 1..4;
* the frame's edge: examples/measure_in_mm.py's plate (two bending modes, 128 frames at 1 kHz,
  noise 1/255, 8-bit, and the same rendered noise-free), the 155 Hz mode's gain per column x
  (the mode's own share of each column's vibration, rows 8..56) and the region-mean spectrum
  amplitude over measure_in_mm's region (8, 8, 56, 88) and over one 12 px further from the edges,
  also of the displacement less its ``model_error`` (``return_uncertainty``: the fit's own estimate
  of its motion-model error), the "corrected" columns;
* the frame's border, default estimator: the 64 px bending plate of tests/batch ("big": one first
  bending mode along y, amplitude ``sin(pi (x + 0.5) / 64)``, 64 float frames at 500 Hz) and the
  same mode on a 100x76 px plate (100 rows: the pyramid pads the frame to 104), the peak amplitude
  of the whole-frame spectrum and of a region 12 px inside, in % of the exact displacement's and in
  units of its ``amplitude_sigma`` (noise and systematic part, as ``survey`` states it); and the
  mode's gain (measured over true vibration, projected on the true waveform) at the border column
  x = 0 and over the 4 rows next to the bottom border (the border the motion crosses).

Prints markdown tables; the figures are quoted in docs/flow.md.
"""

from __future__ import annotations

import numpy as np

import vibmag
from vibmag.analysis import find_peaks
from vibmag.pipeline import survey
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


def border_plates() -> dict:
    """Name -> the plates of the border table (the tests/batch one rebuilt with its settings and seed)."""
    mode = [Mode("54.6875 Hz", 0.4, shape="bending", direction=90)]
    common = {"n_frames": 64, "frame_rate": "500 Hz", "supersample": 2, "modes": mode}
    return {"64x64 (tests/batch big)": vibrating_plate((64, 64), seed=len("big") + 54, **common),
            "100x76": vibrating_plate((100, 76), seed=7, **common)}


def peak_error(ds, measured, region) -> tuple[float, float]:
    """(% error, error / amplitude_sigma) of ``survey``'s y peak amplitude over ``region`` (None: whole frame)."""
    box = {} if region is None else {"region": region}
    exact = float(find_peaks(vibmag.spectrum(ds["true_displacement"], **box), n=1)["amplitude"].sel(component="y")[0])
    peak = survey(ds, region=region, n_peaks=1, displacement=measured).sel(component="y").isel(peak=0)
    amplitude = float(peak["peak_amplitude"])
    return 100.0 * (amplitude / exact - 1.0), (amplitude - exact) / float(peak["peak_amplitude_sigma"])


def waveform_gains(measured: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(y, x) gain of the y vibration: each pixel's measured over true projection on the true waveform."""
    series = [v[:, 1].reshape(len(v), -1) - v[:, 1].reshape(len(v), -1).mean(0) for v in (measured, truth)]
    waveform = np.linalg.svd(series[1], full_matrices=False)[0][:, 0]
    return ((waveform @ series[0]) / (waveform @ series[1])).reshape(truth.shape[2:])


def print_border_table() -> None:
    """The border table of the module docstring, default estimator."""
    print("\n| plate | whole frame: error | in sigma | 12 px inside: error | in sigma | gain at x = 0 "
          "| gain, 4 bottom rows |\n|---|---|---|---|---|---|---|")
    for name, ds in border_plates().items():
        measured = vibmag.estimate_displacement(ds, progress=False, return_uncertainty=("noise", "model_error"))
        truth = ds["true_displacement"]
        height, width = ds.sizes["y"], ds.sizes["x"]
        whole, inside = (peak_error(ds, measured, r) for r in (None, (12, 12, height - 12, width - 12)))
        gains = waveform_gains(measured["displacement"].values, truth.values)
        amplitude = np.abs(truth.values[:, 1]).max(0)
        bottom = float((gains[-4:] * amplitude[-4:]).sum() / amplitude[-4:].sum())
        print(f"| {name} | {whole[0]:+.2f} % | {whole[1]:+.2f} | {inside[0]:+.2f} % | {inside[1]:+.2f} "
              f"| {np.median(gains[:, 0]):.2f} | {bottom:.3f} |", flush=True)


def main() -> None:
    print("| window | " + " | ".join(f"gain, L = {w} px" for w in (48, 96, 192)) + " |\n|---|---|---|---|")
    for name, options in WINDOWS.items():
        print(f"| {name} | " + " | ".join(f"{curvature_gain(w, options):.4f}" for w in (48, 96, 192)) + " |", flush=True)
    regions = ((8, 8, 56, 88), (20, 20, 44, 76))
    print("\n| window | frames | " + " | ".join(f"region {r}" for r in regions) + " | "
          + " | ".join(f"corrected, region {r}" for r in regions) + " | "
          + " | ".join(f"column x = {x}" for x in COLUMNS) + " |\n" + "|---" * (6 + len(COLUMNS)) + "|")
    for noise in (True, False):
        ds = measure_in_mm_plate(noise)
        truth = ds["true_displacement"]
        frequency_bin = round(155.0 * ds.sizes["time"] / 1000.0)
        for name, options in WINDOWS.items():
            measured = vibmag.estimate_displacement(ds, progress=False, return_uncertainty=("model_error",), **options)
            disp = measured["displacement"]
            gains = column_gains(disp.values, truth.values, frequency_bin)
            exact = truth.assign_attrs(disp.attrs)
            values = ([region_gain(disp, exact, r) for r in regions]
                      + [region_gain(disp - measured["model_error"], exact, r) for r in regions])
            print(f"| {name} | {'noise 1/255, 8-bit' if noise else 'noise-free'} | "
                  + " | ".join(f"{v:.3f}" for v in values) + " | "
                  + " | ".join(f"{gains[x]:.3f}" for x in COLUMNS) + " |", flush=True)
    print_border_table()


if __name__ == "__main__":
    main()
