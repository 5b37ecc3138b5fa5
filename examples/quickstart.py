"""Measure and magnify a recording's strongest vibration, from Python.

    python examples/quickstart.py                       # the shipped beam recording
    python examples/quickstart.py clip.cihx -o out --pixel-size "0.05 mm"
    python examples/quickstart.py clip.mp4 --frame-rate "15 kHz" --alpha 20

Writes into the output folder: spectrum.png (spectrum with peaks, waveform),
magnified.mp4 (original above, magnified below) and results.h5 (recording,
displacement with confidence, spectrum, peak table, magnified frames).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vibmag import magnify

import vibmag
from matplotlib.figure import Figure

from vibmag import sample_data, viz
from vibmag.analysis import find_peaks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", nargs="?", default=str(sample_data.path("showcase_beams")), help="default: the shipped beam recording")
    parser.add_argument("-o", "--output", default="quickstart-output", help="output folder (default: %(default)s)")
    parser.add_argument("--frame-rate", help="capture rate, e.g. '15 kHz' (videos store a playback rate)")
    parser.add_argument("--pixel-size", help="size of a pixel on the object, e.g. '0.05 mm'")
    parser.add_argument("--alpha", type=float, default=20.0, help="magnification (default: %(default)s)")
    parser.add_argument("--method", default="flowmag", choices=("flowmag", "lagrangian", "linear", "phase"))
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    # 1. open: the capture rate comes from the file's header unless given
    ds = vibmag.open_recording(args.recording, frame_rate=args.frame_rate, pixel_size=args.pixel_size)
    print(f"{Path(args.recording).name}: {ds.sizes['time']} frames of {ds.sizes['x']} x {ds.sizes['y']} px at {ds.attrs['frame_rate']}")

    # 2. measure: displacement (px) with a per-pixel confidence
    measured = vibmag.estimate_displacement(ds, return_confidence=True)
    trusted = measured["confidence"].min("time") > 0.5
    disp = measured["displacement"]

    # 3. spectrum over the trusted pixels, its peaks, and a band around the most salient one
    spec = vibmag.spectrum(disp, region=trusted)
    peaks = find_peaks(spec, n=5)
    salience = (peaks["amplitude"] / spec.median("frequency")).max("component")   # peak over the noise floor
    f0 = float(peaks["frequency"][int(salience.argmax("peak"))])
    band = (f"{0.75 * f0:.3g} Hz", f"{1.25 * f0:.3g} Hz")
    figure = Figure(figsize=(9, 6), layout="constrained")
    top, bottom = figure.subplots(2, 1)
    viz.plot_spectrum(spec, peaks=peaks, ax=top)
    top.set_title(f"displacement spectrum (trusted pixels); band magnified: {band[0]} - {band[1]}")
    viz.plot_waveform(vibmag.waveform(vibmag.bandpass(disp, *band), region=trusted), ax=bottom)
    bottom.set_title("band-passed waveform (mean over the trusted pixels)")
    figure.savefig(out / "spectrum.png", dpi=110)
    unit = disp.attrs["units"]
    for frequency, amplitude in zip(peaks["frequency"].values, peaks["amplitude"].values):
        print(f"  peak {frequency:8.2f} Hz   x {amplitude[0]:.4f} {unit}   y {amplitude[1]:.4f} {unit}")
    print(f"magnifying {band[0]} - {band[1]} x{args.alpha:g} with {args.method}")

    # 4. magnify only that band, and write the original and the magnified recording one above the other
    result = magnify(ds, args.alpha, band=band, method=args.method)
    vibmag.write_video(ds, out / "magnified.mp4", side_by_side=result, labels=("original", f"{args.method} x{args.alpha:g}, {band[0]} - {band[1]}"),
                       timestamp=True, stack="vertical", fps=15, overwrite=True)

    # 5. everything in one HDF5 file, one group each
    results = out / "results.h5"
    for group, obj in [("recording", ds), ("displacement", measured), ("spectrum", spec), ("peaks", peaks), ("magnified", result)]:
        vibmag.save(obj, results, group=group, overwrite=True)
    for path in ("spectrum.png", "magnified.mp4", "results.h5"):
        print(f"wrote {out / path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
