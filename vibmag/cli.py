"""The ``vibmag`` command line: a thin front end over the public functions.

Subcommands
-----------
``vibmag info PATH``
    What a recording holds: frames, size, capture rate, duration, bit depth,
    source and the header's main fields.
``vibmag analyze PATH -o FOLDER``
    Displacement, spectrum with peaks, waveform at a region: a PNG, a peak
    table (CSV) and the numbers (HDF5).
``vibmag magnify PATH -o OUT.mp4|OUT.gif|OUT.h5 --alpha 20 --band 15Hz:35Hz``
    Magnify a band in a region; a side-by-side video or an HDF5 recording.
``vibmag train --output-dir runs/flowmag``
    Train the self-supervised magnifier (options: ``vibmag train --help``).
``vibmag batch INPUTS... -o results.h5 [--settings batch.toml]``
    Many HDF5 recordings on a Dask cluster into one resumable results file.
``vibmag report PATH -o report.html [--band 15Hz:35Hz --alpha 20 --peaks 5 --points y,x;y,x]``
    The inspection report: one self-contained HTML page (recording, survey,
    spectrum and peaks, deflection shapes, waveforms and orbits, the magnified
    clip, provenance) and its data as JSON and CSV.
``vibmag demo``
    The README's main job on the shipped real beam recording.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .analysis import RegionError, region_from_text
from .batch import load_settings, run
from .demo import DEMO_ALPHA, run_demo
from .errors import OverwriteError, VibmagError
from .flow import check_flow_options
from .io import open_recording
from .io.hdf5 import save
from .io.outputs import check_output, check_output_folder, input_files, refuse_existing
from .magnification.train import get_args_parser as train_parser
from .magnification.train import main as train_main
from .pipeline import METHODS, magnify, peak_table, plot_survey, survey, write_magnified_clip
from .progress import progress_bar
from .reporting import check_report_outputs
from .reporting import report as write_report
from .recording import MIN_SPECTRUM_FRAMES, describe_recording, require_frames
from .units import frequency_hz

__all__ = ["main", "build_parser", "describe_recording", "parse_band", "parse_region", "parse_points", "parse_flow_option"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vibmag`` command, one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog="vibmag", description="See and measure vibration too small for the eye.")
    parser.add_argument("--version", action="version", version=f"vibmag {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="print what a recording holds")
    info.add_argument("path", help="recording: .cih/.cihx/.mraw, .cine, .h5, video, image folder or glob, .npy")
    _add_recording_options(info)
    info.set_defaults(run=_run_info)

    analyze = sub.add_parser("analyze", help="spectrum, peaks and waveform of a recording's displacement")
    analyze.add_argument("path", help="recording")
    analyze.add_argument("-o", "--output", required=True, help="folder for spectrum.png, peaks.csv and analysis.h5")
    analyze.add_argument("--region", type=parse_region, help="box:y0,x0,y1,x1 or polygon:y,x;y,x;y,x (default: whole frame)")
    analyze.add_argument("--peaks", type=int, default=5, help="number of peaks to list (default: %(default)s)")
    _add_flow_option(analyze)
    analyze.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_recording_options(analyze)
    analyze.set_defaults(run=_run_analyze)

    magnify = sub.add_parser("magnify", help="magnify the motion of a band in a region")
    magnify.add_argument("path", help="recording")
    magnify.add_argument("-o", "--output", required=True, help="OUT.mp4 or OUT.gif (side by side with the original) or OUT.h5")
    magnify.add_argument("--alpha", type=float, required=True, help="magnification factor, e.g. 20")
    magnify.add_argument("--band", type=parse_band, help="frequency band, e.g. 15Hz:35Hz or 900rpm:2100rpm (default: all motion)")
    magnify.add_argument("--region", type=parse_region, help="box:y0,x0,y1,x1 or polygon:y,x;y,x;y,x (default: whole frame)")
    magnify.add_argument("--method", default="flowmag", choices=METHODS, help="default: %(default)s")
    magnify.add_argument("--adapt-steps", type=int, default=0, help="test-time adaptation steps (flowmag)")
    magnify.add_argument("--reference", type=int, default=0, help="reference frame index (default: %(default)s)")
    _add_flow_option(magnify)
    magnify.add_argument("--fps", type=float, help="playback rate of the video (default: min(capture rate, 30))")
    magnify.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_recording_options(magnify)
    magnify.set_defaults(run=_run_magnify)

    train = sub.add_parser("train", parents=[train_parser(add_help=False)], help="train the self-supervised magnifier")
    train.set_defaults(run=_run_train)

    batch = sub.add_parser("batch", help="process many HDF5 recordings on a Dask cluster into one results file")
    batch.add_argument("inputs", nargs="+", help="HDF5 files, folders of them, or glob patterns (quoted)")
    batch.add_argument("-o", "--output", required=True, help="results file (.h5), a group per recording; an existing one is resumed")
    batch.add_argument("--settings", help="settings file (.toml, .yaml); see docs/batch.md")
    batch.add_argument("--workers", type=int, help="worker processes of the local Dask cluster (default: one per CPU core)")
    batch.add_argument("--scheduler", help="address of a running Dask scheduler instead, e.g. tcp://10.0.0.5:8786")
    batch.add_argument("--overwrite", action="store_true", help="recompute recordings already complete in the results file")
    batch.add_argument("--log", help="log file, appended to (default: the results file with suffix .log)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bars")
    batch.add_argument("--report", metavar="DIR", help="also write an HTML inspection report per recording into DIR, and DIR/index.html listing them")
    _add_recording_options(batch)
    batch.set_defaults(run=_run_batch)

    report = sub.add_parser("report", help="write a self-contained HTML inspection report of a recording")
    report.add_argument("path", help="recording")
    report.add_argument("-o", "--output", required=True, help="the report, REPORT.html (its data beside it: REPORT.json, REPORT_peaks.csv, REPORT_spectrum.csv)")
    report.add_argument("--alpha", type=float, default=20.0, help="magnification of the clip (default: %(default)s)")
    report.add_argument("--band", type=parse_band, help="band magnified, e.g. 15Hz:35Hz (default: around the dominant peak)")
    report.add_argument("--region", type=parse_region, help="where the spectrum is taken and the clip magnified: box:y0,x0,y1,x1 or polygon:y,x;... (default: whole frame)")
    report.add_argument("--method", default="flowmag", choices=METHODS, help="magnification method of the clip (default: %(default)s)")
    report.add_argument("--adapt-steps", type=int, default=0, help="test-time adaptation steps (flowmag)")
    report.add_argument("--reference", type=int, default=0, help="reference frame index of the clip (default: %(default)s)")
    _add_flow_option(report)
    report.add_argument("--peaks", type=int, default=5, help="peaks in the table, each with its deflection shape (default: %(default)s)")
    report.add_argument("--points", type=parse_points, help="pixels for waveform and orbit, y,x;y,x (default: the one that moves most)")
    report.add_argument("--max-clip-frames", type=int, default=150, help="the clip shows at most the first N frames (default: %(default)s)")
    report.add_argument("--fps", type=float, help="playback rate of the clip (default: min(capture rate, 30))")
    report.add_argument("--no-data-files", action="store_true", help="only the HTML (its data stays embedded as download links)")
    report.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_recording_options(report)
    report.set_defaults(run=_run_report)

    demo = sub.add_parser("demo", help="run the demo on the shipped real beam recording")
    demo.add_argument("-o", "--output", default="vibmag-demo", help="folder for the demo's outputs (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier demo run")
    demo.add_argument("--method", default="flowmag", choices=METHODS, help="default: %(default)s")
    demo.add_argument("--alpha", type=float, default=None, help="magnification of the dominant band (default: 20)")
    demo.set_defaults(run=_run_demo)
    return parser


def _add_recording_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every subcommand that opens a recording."""
    parser.add_argument("--frame-rate", help="capture rate, e.g. '2 kHz' (overrides the file's own)")
    parser.add_argument("--pixel-size", help="pixel size on the object, e.g. '0.05 mm'")
    parser.add_argument("--dataset", help="HDF5: path of the frames dataset, e.g. /cam0/frames")
    parser.add_argument("--bit-depth", type=int, help="effective bits of integer data whose file does not say")


def _add_flow_option(parser: argparse.ArgumentParser) -> None:
    """``--flow-option NAME=VALUE``, repeatable: an option of the displacement estimator."""
    parser.add_argument("--flow-option", dest="flow_options", metavar="NAME=VALUE", type=parse_flow_option, action="append",
                        help="an option of the displacement estimator, repeatable; e.g. highpass=4 so a lighting change "
                             "is not read as motion (docs/flow.md)")


def _flow_options(args: argparse.Namespace) -> dict:
    """The ``--flow-option`` values as keywords, checked against the estimator before any work."""
    return check_flow_options(None, dict(args.flow_options or ()))


def _open_from_args(args: argparse.Namespace):
    """Open the recording named on the command line."""
    return open_recording(args.path, frame_rate=args.frame_rate, pixel_size=args.pixel_size, dataset=args.dataset, bit_depth=args.bit_depth)


def parse_band(text: str) -> tuple[str, str]:
    """``"15Hz:35Hz"`` -> ``("15Hz", "35Hz")`` (units are checked when used)."""
    low, sep, high = text.partition(":")
    if not sep or not low.strip() or not high.strip():
        raise argparse.ArgumentTypeError(f"a band is LOW:HIGH with units, e.g. 15Hz:35Hz; got {text!r}")
    return low.strip(), high.strip()


def parse_points(text: str) -> list[tuple[float, float]]:
    """``"12,300;20,450"`` -> ``[(12.0, 300.0), (20.0, 450.0)]``: pixels as (y, x)."""
    points = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        y, sep, x = item.partition(",")
        try:
            points.append((float(y), float(x)))
        except ValueError:
            sep = ""
        if not sep:
            raise argparse.ArgumentTypeError(f"points are y,x pairs separated by ';', e.g. 12,300;20,450; got {text!r}")
    if not points:
        raise argparse.ArgumentTypeError(f"points are y,x pairs separated by ';', e.g. 12,300;20,450; got {text!r}")
    return points


def parse_flow_option(text: str) -> tuple[str, object]:
    """``"highpass=4"`` -> ``("highpass", 4)``; values: integers, numbers, true/false, none, comma-separated tuples
    (``iterations=1,3``), else the text itself (the estimator checks them)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"a flow option is NAME=VALUE, e.g. highpass=4; got {text!r}")
    items = [_option_value(part) for part in value.split(",")]
    return name.strip(), items[0] if len(items) == 1 else tuple(items)


def _option_value(text: str):
    """One option value from its text: int, float, bool, None, or the stripped text."""
    text = text.strip()
    words = {"true": True, "false": False, "none": None}
    if text.lower() in words:
        return words[text.lower()]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_region(text: str):
    """``"box:y0,x0,y1,x1"`` -> a box tuple; ``"polygon:y,x;y,x;..."`` -> (y, x) vertices (:func:`vibmag.analysis.region_from_text`)."""
    try:
        return region_from_text(text)
    except RegionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_analyze(args: argparse.Namespace) -> int:
    folder = Path(args.output)
    targets = [folder / name for name in ("spectrum.png", "peaks.csv", "analysis.h5")]
    refuse_existing(targets, args.overwrite)
    check_output_folder(folder, what="--output folder")
    flow_options = _flow_options(args)
    ds = _open_from_args(args)
    require_frames(ds, MIN_SPECTRUM_FRAMES, "a spectrum")
    for target in targets:  # all refusals before any work: a refusal leaves no partial output
        _check_folder_target(target, ds, args.overwrite)
    summary = survey(ds, region=args.region, n_peaks=args.peaks, flow_options=flow_options)
    folder.mkdir(parents=True, exist_ok=True)
    plot_survey(summary, targets[0], title=f"{Path(args.path).name}: displacement spectrum")
    table = peak_table(summary)
    rows = ["frequency_hz,rpm,amplitude_x_px,amplitude_y_px,q,amplitude_sigma_x_px,amplitude_sigma_y_px,snr,cycles"] + [
        f"{f:.6g},{r:.6g},{a[0]:.6g},{a[1]:.6g},{q:.4g},{e[0]:.3g},{e[1]:.3g},{n:.3g},{c:.3g}"
        for f, r, a, q, e, n, c in zip(table["frequency"].values, table["rpm"].values, table["amplitude"].values,
                                       table["q"].values, table["amplitude_sigma"].values, table["snr"].values,
                                       table["cycles"].values)
    ]
    targets[1].write_text("\n".join(rows) + "\n")
    save(summary, targets[2], overwrite=args.overwrite)
    print("\n".join(rows))
    for path in targets:
        print(f"wrote {path}")
    return 0


def _run_magnify(args: argparse.Namespace) -> int:
    output = Path(args.output)
    check_output(output, suffixes=(".mp4", ".gif", ".h5", ".hdf5"), inputs=[args.path], overwrite=args.overwrite, what="--output")
    flow_options = _flow_options(args)
    ds = _open_from_args(args)
    check_output(output, suffixes=(".mp4", ".gif", ".h5", ".hdf5"), inputs=[ds], overwrite=args.overwrite, what="--output")
    options = dict(region=args.region, method=args.method, reference=args.reference, adapt_steps=args.adapt_steps,
                   flow_options=flow_options)
    with progress_bar("magnifying") as update:
        if output.suffix.lower() in (".h5", ".hdf5"):
            magnify(ds, args.alpha, band=args.band, output=output, overwrite=args.overwrite, progress=update, **options)
        else:
            band_hz = None if args.band is None else tuple(frequency_hz(edge) for edge in args.band)
            write_magnified_clip(ds, output, args.alpha, band_hz=band_hz, fps=args.fps, stack="horizontal", zoom=1,
                                 overwrite=args.overwrite, progress=update, **options)
    print(f"wrote {output}")
    return 0


def _check_folder_target(target: Path, ds, overwrite: bool) -> None:
    """One file ``analyze`` writes into its folder: not an input, and (when it exists) of its own kind."""
    if target.parent.is_dir():
        check_output(target, suffixes=(target.suffix,), inputs=[ds], overwrite=overwrite, what="output")
    else:
        for file in input_files(ds):
            if file.resolve() == target.resolve():
                raise OverwriteError(f"{target}: is the input recording; pass another --output folder")


#: The API's keyword spellings in messages, and the CLI options that say the same.
_CLI_TERMS = {"dataset=": "--dataset ", "frame_rate=": "--frame-rate ", "pixel_size=": "--pixel-size ", "bit_depth=": "--bit-depth ",
              "overwrite=True": "--overwrite", "group=": "--dataset "}


def cli_terms(message: str) -> str:
    """An API error message in command-line terms: ``pass dataset=`` -> ``pass --dataset``."""
    for api, option in _CLI_TERMS.items():
        message = re.sub(rf"(?<![\w-]){re.escape(api)}", option, message)
    message = re.sub(r" +([,);])", r"\1", re.sub(r"  +", " ", message))
    return message.replace("--dataset (or --dataset)", "--dataset")


def _run_info(args: argparse.Namespace) -> int:
    print(describe_recording(_open_from_args(args)))
    return 0


def _run_train(args: argparse.Namespace) -> int:
    own = {k: v for k, v in vars(args).items() if k not in ("command", "verbose", "run")}
    return train_main(argparse.Namespace(**own))


def _run_batch(args: argparse.Namespace) -> int:
    given = {"dataset": args.dataset, "frame_rate": args.frame_rate, "pixel_size": args.pixel_size, "bit_depth": args.bit_depth}
    settings = load_settings(args.settings, input=given)
    try:
        report = run(args.inputs, args.output, settings=settings, scheduler=args.scheduler, n_workers=args.workers,
                     overwrite=args.overwrite, progress=False if args.no_progress else None, log_file=args.log,
                     report_dir=args.report)
    except KeyboardInterrupt:
        print("vibmag batch: interrupted; finished recordings are kept: run the same command to resume", file=sys.stderr)
        return 130
    print(report.table())
    if report.index is not None:
        print(f"reports: {report.index}")
    return report.exit_code


def _run_report(args: argparse.Namespace) -> int:
    output = Path(args.output)
    check_report_outputs(output, inputs=[args.path], overwrite=args.overwrite, data_files=not args.no_data_files)
    flow_options = _flow_options(args)
    ds = _open_from_args(args)
    require_frames(ds, MIN_SPECTRUM_FRAMES, "a report (its spectrum)")
    band = None if args.band is None else tuple(args.band)
    command = {"made_by": "vibmag report", "recording": str(args.path),
               **{f"{name}_given": getattr(args, name) for name in ("frame_rate", "pixel_size", "dataset", "bit_depth")}}
    with progress_bar("report") as update:
        done = write_report(ds, output, band=band, region=args.region, method=args.method, alpha=args.alpha, n_peaks=args.peaks,
                            points=args.points, reference=args.reference, adapt_steps=args.adapt_steps,
                            flow_options=flow_options, max_clip_frames=args.max_clip_frames, fps=args.fps, data_files=not args.no_data_files,
                            overwrite=args.overwrite, options=command, progress=update)
    peak = done.dominant_peak
    if peak is not None:
        print(f"dominant peak {peak['frequency_hz']:.4g} Hz ({peak['rpm']:.4g} rpm)")
    for path in done.files:
        print(f"wrote {path}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    with progress_bar("magnifying") as update:
        paths = run_demo(args.output, overwrite=args.overwrite, method=args.method,
                         alpha=DEMO_ALPHA if args.alpha is None else args.alpha, progress=update)
    for path in paths:
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vibmag`` console script; returns the exit status.

    vibmag's own errors (bad input) print one line naming the problem and exit
    with status 2; anything else is a bug and shows its traceback.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except VibmagError as exc:
        print(f"vibmag {args.command}: error: {cli_terms(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
