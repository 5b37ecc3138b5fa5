"""Whole-recording magnification: quality against exact renders, static background, regions, speed and memory.

Usage: python benchmarks/pipeline.py [--quick] [--no-write] [--methods flowmag,lagrangian,linear,phase]

A full run writes its tables into docs/benchmarks.md (section "Whole-recording
magnification"); ``--quick`` (a smoke run) and ``--no-write`` only print them.

* Quality: a vibmag.synthetic plate with two modes (25 Hz bending, 0.1 px,
  vertical; 90 Hz rigid, 0.05 px, horizontal), drift 3 px/s, noise 1/255,
  8-bit; alpha 20 on the 25 Hz mode's band (15-35 Hz). Each method's output is
  scored against the exact render where only that mode is magnified: PSNR and
  SSIM, and the residual motion error, ``|DIS(out_0, out_t) - true(t)|``
  measured with OpenCV DIS (an independent flow), beside DIS's own error on
  the exact render.
* Static background: an object scene whose objects vibrate at 20 Hz and whose
  background is still, noise 1/255; alpha 20 on 10-40 Hz; RMS DIS motion of
  the output's background (>= 12 px from any moving object). Target < 0.05 px.
* Region targeting: the plate's 25 Hz mode magnified 20 times inside the left
  half only; RMS DIS motion of output / input inside and outside.
* Speed and memory: frames per second at 256x256 and 512x512; peak resident
  memory and time against frame count (1k, 5k, 10k frames of 256x256; 1k and
  10k of 512x512) for the lagrangian method, each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from metrics import dis_flow, image_scores
from report import machine_line, markdown_table, update_section

import vibmag
from vibmag.pipeline import magnify
from vibmag.synthetic import Mode, object_scene, render_magnified, vibrating_plate

HERE = Path(__file__).resolve().parent
BAND = ("15 Hz", "35 Hz")
ALPHA = 20.0
BORDER = 12


def quality_scene(n_frames: int):
    modes = [Mode("25 Hz", 0.1, direction=90, shape="bending"), Mode("90 Hz", 0.05, direction=0, shape="rigid")]
    return vibrating_plate((128, 128), n_frames=n_frames, frame_rate="500 Hz", modes=modes, drift=(3.0, 0.0), noise=1 / 255, bit_depth=8, seed=7)


def motion_error(frames: np.ndarray, truth: np.ndarray, times) -> float:
    """Mean end-point error (px) of DIS(frames[0], frames[t]) against ``truth[t]`` (2, H, W), interior only."""
    c = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    errors = [np.hypot(*(dis_flow(frames[0], frames[t]) - truth[t])[c]).mean() for t in times]
    return float(np.mean(errors))


def run_quality(methods, n_frames: int) -> list[list]:
    ds = quality_scene(n_frames)
    exact = render_magnified(ds, ALPHA, band=BAND)
    want, truth = exact["frames"].values, exact["true_displacement"].values
    times = range(n_frames // 4, 3 * n_frames // 4, 4)  # away from the filters' start-up at both ends
    rows = [["exact render (DIS floor)", 1.0, float("inf"), motion_error(want, truth, times), 0.0]]
    outputs = {"nothing (input)": (ds["frames"].values, 0.0)}
    for method in methods:
        start = time.perf_counter()
        outputs[method] = (magnify(ds, ALPHA, band=BAND, method=method)["frames"].values, time.perf_counter() - start)
    for name, (frames, seconds) in outputs.items():
        scores = [image_scores(frames[t], want[t], BORDER) for t in times]
        rows.append([name, np.mean([s["ssim"] for s in scores]), np.mean([s["psnr"] for s in scores]), motion_error(frames, truth, times), seconds])
    return rows


def run_static(methods, n_frames: int) -> list[list]:
    import scipy.ndimage

    vibrating = [Mode("20 Hz", 0.15, direction=45, shape="rigid"), Mode("20 Hz", 0.1, direction=120, shape="rigid", phase=1.0)]
    scene = object_scene((128, 128), n_frames=n_frames, n_objects=2, motion=vibrating, frame_rate="400 Hz", noise=1 / 255, bit_depth=8, seed=11)
    moving = np.abs(scene["true_displacement"].values).max(axis=(0, 1)) > 0
    still = scipy.ndimage.distance_transform_edt(~scipy.ndimage.binary_dilation(moving, iterations=2)) >= 12
    still[:BORDER] = still[-BORDER:] = False
    still[:, :BORDER] = still[:, -BORDER:] = False
    times = range(n_frames // 4, 3 * n_frames // 4, 4)
    rows = []
    outputs = {"nothing (input)": scene["frames"].values}
    outputs.update({m: magnify(scene, ALPHA, band=("10 Hz", "40 Hz"), method=m)["frames"].values for m in methods})
    for name, frames in outputs.items():
        motion = [np.hypot(*dis_flow(frames[0], frames[t]))[still] for t in times]
        rms = float(np.sqrt(np.mean(np.square(motion))))
        rows.append([name, int(still.sum()), rms, "yes" if rms < 0.05 else "no"])
    return rows


def run_region(methods, n_frames: int) -> list[list]:
    ds = vibrating_plate((128, 128), n_frames=n_frames, frame_rate="500 Hz", modes=[Mode("25 Hz", 0.1, direction=90, shape="rigid")], noise=1 / 255, bit_depth=8, seed=3)
    region = (0, 0, 128, 64)
    times = range(n_frames // 4, 3 * n_frames // 4, 4)

    def rms_motion(frames, cols):
        return float(np.sqrt(np.mean([np.square(dis_flow(frames[0], frames[t])[:, BORDER:-BORDER, cols]).sum(0).mean() for t in times])))

    inside, outside = slice(BORDER, 64 - BORDER), slice(64 + BORDER, 128 - BORDER)
    rows = []
    base_in, base_out = rms_motion(ds["frames"].values, inside), rms_motion(ds["frames"].values, outside)
    for method in methods:
        out = magnify(ds, ALPHA, band=BAND, region=region, method=method)["frames"].values
        rows.append([method, rms_motion(out, inside) / base_in, rms_motion(out, outside) / base_out])
    return rows


def run_speed(methods, sizes=(256, 512), n_frames: int = 32) -> list[list]:
    rows = []
    for size in sizes:
        ds = vibrating_plate((size, size), n_frames=n_frames, frame_rate="500 Hz", modes=[Mode("25 Hz", 0.1)], supersample=1, seed=1)
        for method in methods:
            magnify(ds.isel(time=slice(0, 4)), ALPHA, method=method)  # warm-up
            start = time.perf_counter()
            magnify(ds, ALPHA, band=BAND, method=method)
            rows.append([f"{size}x{size}", method, n_frames / (time.perf_counter() - start)])
    return rows


# Run with `python -c` in a fresh process; argv: benchmarks folder, input, output, method, chunk_frames. Peak RSS
# is the kernel's VmHWM of the probe's own address space (metrics.peak_rss_mib): getrusage's ru_maxrss would
# carry the benchmark process's peak over through fork and exec.
SCALING_PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv.pop(1))
from metrics import peak_rss_mib
from vibmag import open_recording
from vibmag.pipeline import magnify
ds = open_recording(sys.argv[1], frame_rate="1 kHz")
start = time.perf_counter()
magnify(ds, 20.0, band=("20 Hz", "30 Hz"), method=sys.argv[3], output=sys.argv[2], chunk_frames=int(sys.argv[4]))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mib": peak_rss_mib()}))
"""


def long_recording(path: Path, n_frames: int, size: int) -> Path:
    """A periodic 25 Hz recording of ``n_frames`` (a rendered 40-frame period repeated) as a uint8 .npy."""
    period = vibrating_plate((size, size), n_frames=40, frame_rate="1 kHz", modes=[Mode("25 Hz", 0.2)], supersample=2, bit_depth=8, seed=5)
    counts = np.rint(period["frames"].values * 255).astype(np.uint8)
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n_frames, size, size))
    for start in range(0, n_frames, 40):
        stop = min(start + 40, n_frames)
        array[start:stop] = counts[: stop - start]
    array.flush()
    return path


def run_scaling(cases, method: str, chunk_frames: int = 16) -> list[list]:
    """Time and peak memory of ``magnify`` streamed to HDF5 for each (frames, size) case, each in a fresh process."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, size in cases:
            source = long_recording(Path(tmp) / f"in{n}.npy", n, size)
            out = subprocess.run([sys.executable, "-c", SCALING_PROBE, str(HERE), str(source), str(Path(tmp) / f"out{n}.h5"), method, str(chunk_frames)],
                                 capture_output=True, text=True, check=True)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append([f"{n}", f"{size}x{size}", method, m["seconds"], n / m["seconds"], m["peak_mib"]])
            for leftover in Path(tmp).iterdir():
                leftover.unlink()
    return rows


def speed_target(speed: list[list]) -> str:
    """Issue 14's line on the default method's frames per second at 512x512 (empty when that size was not timed)."""
    rates = [row[2] for row in speed if row[0] == "512x512" and row[1] == "flowmag"]
    if not rates:
        return ""
    return (f"Target (issue 14): the default method (flowmag) at >= 10 frames/s at 512x512, whole frame: "
            f"{'met' if rates[0] >= 10 else 'NOT met'} ({rates[0]:.1f}).")


def previous_scaling_table() -> str:
    """The memory-and-length table of the last full run, from docs/benchmarks.md, marked as such."""
    text = (HERE.parent / "docs" / "benchmarks.md").read_text()
    section = text.split("## Whole-recording magnification", 1)[-1].split("\n## ", 1)[0]
    rows = [line for line in section.split("**Memory and time against length**", 1)[-1].splitlines() if line.startswith("|")]
    if not rows:
        raise SystemExit("--skip-scaling: docs/benchmarks.md holds no previous memory-and-length table to keep")
    return "(not rerun here, `--skip-scaling`: the table of the previous full run)\n\n" + "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="short clips and 1k/2k frames for the scaling (a smoke run); prints, never writes")
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    parser.add_argument("--methods", default="flowmag,lagrangian,linear,phase")
    parser.add_argument("--skip-scaling", action="store_true",
                        help="do not rerun the memory-and-length runs (about 40 min); keep the previous table from docs/benchmarks.md")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    n = 80 if args.quick else 160
    quality = run_quality(methods, n)
    static = run_static(methods, n)
    region = run_region(methods, n)
    # 32 frames: the band filter needs more than its padding (27 samples) along time; quick runs time 256x256 only
    speed = run_speed(methods, sizes=(256,) if args.quick else (256, 512), n_frames=32)
    cases = [(1000, 256), (2000, 256)] if args.quick else [(1000, 256), (5000, 256), (10000, 256), (1000, 512), (10000, 512)]
    scaling = None if args.skip_scaling else run_scaling(cases, "lagrangian")
    tables = {
        "quality": markdown_table(["method", "SSIM", "PSNR (dB)", "motion error (px, DIS)", "time (s)"], quality),
        "static": markdown_table(["method", "background px", "RMS motion of background (px)", "< 0.05 px"], static),
        "region": markdown_table(["method", "motion inside / input", "motion outside / input"], region),
        "speed": markdown_table(["frame size", "method", "frames/s"], speed),
        "scaling": (previous_scaling_table() if scaling is None else
                    markdown_table(["frames", "size", "method", "time (s)", "frames/s", "peak RSS (MiB)"], scaling)),
    }
    for table in tables.values():
        print(table, end="\n\n")
    command = "python benchmarks/pipeline.py" + (" --quick" if args.quick else "") + (" --skip-scaling" if args.skip_scaling else "")
    body = f"""Command: `{command}`. Machine: {machine_line()}.

**Band-selective quality.** Plate 128x128, {n} frames at 500 Hz: 25 Hz bending mode (0.1 px, vertical) and 90 Hz rigid mode (0.05 px, horizontal), drift 3 px/s, noise 1/255, 8-bit. Alpha {ALPHA:g} on {BAND[0]}-{BAND[1]}; scored against the exact render with only the 25 Hz mode magnified, over the middle half of the record. Motion error: end-point error of OpenCV DIS between output frame 0 and frame t against the exact magnified motion; the first row is DIS's own error on the exact render.

{tables["quality"]}

**Static background.** Two objects vibrating at 20 Hz on a still background, noise 1/255; alpha {ALPHA:g} on 10-40 Hz; motion of the output's background (>= 12 px from anything that moves) by DIS.

{tables["static"]}

**Region targeting.** One rigid 25 Hz mode (0.1 px); alpha {ALPHA:g} inside the left half (box 0,0,128,64) only. Ratios of RMS DIS motion, output over input (ideal: {ALPHA:g} inside, 1 outside; DIS underestimates sub-pixel motion, so both ratios are approximate).

{tables["region"]}

**Throughput** (both passes, band-selective, 32 frames, after a warm-up call):

{tables["speed"]}

{speed_target(speed)}

**Memory and time against length** (lagrangian, band-selective, `chunk_frames=16` (the default), streamed to HDF5, each in a fresh process; peak RSS: the kernel's high-water mark of the process's resident memory, Python, torch and all; target: under 2 GiB for 10,000 frames of 512x512):

{tables["scaling"]}
"""
    if args.quick or args.no_write:
        print("(not written to docs/benchmarks.md: only a full run without --quick/--no-write is)")
        return
    print(f"updated {update_section('Whole-recording magnification', body)}")


if __name__ == "__main__":
    main()
