"""The ``vibmag`` command line: a thin front end over the public functions.

Subcommands
-----------
``vibmag info PATH``
    What a recording holds: frames, size, capture rate, duration, bit depth,
    source and the header's main fields.
``vibmag demo``
    The README's main job on the shipped real beam recording.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .errors import VibmagError

__all__ = ["main", "build_parser", "describe_recording"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vibmag`` command, one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog="vibmag", description="See and measure vibration too small for the eye.")
    parser.add_argument("--version", action="version", version=f"vibmag {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="print what a recording holds")
    info.add_argument("path", help="recording: .cih/.cihx/.mraw, .cine, .h5, video, image folder or glob, .npy")
    _add_recording_options(info)
    info.set_defaults(run=_run_info)

    demo = sub.add_parser("demo", help="run the demo on the shipped real beam recording")
    demo.add_argument("-o", "--output", default="vibmag-demo", help="folder for the demo's outputs (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier demo run")
    demo.set_defaults(run=_run_demo)
    return parser


def _add_recording_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every subcommand that opens a recording."""
    parser.add_argument("--frame-rate", help="capture rate, e.g. '2 kHz' (overrides the file's own)")
    parser.add_argument("--pixel-size", help="pixel size on the object, e.g. '0.05 mm'")
    parser.add_argument("--dataset", help="HDF5: path of the frames dataset, e.g. /cam0/frames")
    parser.add_argument("--bit-depth", type=int, help="effective bits of integer data whose file does not say")


def _open_from_args(args: argparse.Namespace):
    """Open the recording named on the command line."""
    from .io import open_recording

    return open_recording(args.path, frame_rate=args.frame_rate, pixel_size=args.pixel_size, dataset=args.dataset, bit_depth=args.bit_depth)


def describe_recording(ds) -> str:
    """A short human-readable summary of a recording Dataset (what ``vibmag info`` prints)."""
    from .recording import frame_rate_hz

    sizes = ds.sizes
    rate = frame_rate_hz(ds)
    lines = [
        f"source:       {ds.attrs.get('source', '?')}",
        f"format:       {ds.attrs.get('format', '?')}",
        f"frames:       {sizes['time']}",
        f"frame size:   {sizes['x']} x {sizes['y']} px (width x height)" + (f", {sizes['channel']} channels" if "channel" in sizes else ""),
        f"capture rate: {ds.attrs['frame_rate']}" + (f"  ({ds.attrs['frame_rate_source']})" if "frame_rate_source" in ds.attrs else ""),
        f"duration:     {sizes['time'] / rate:.6g} s",
        f"bit depth:    {ds.attrs.get('bit_depth', 'float data')}",
        f"pixel size:   {ds.attrs.get('pixel_size', 'unknown (pass --pixel-size)')}",
    ]
    for key in ("camera", "record_rate", "save_step", "dataset"):
        if key in ds.attrs and ds.attrs[key] != "":
            lines.append(f"{key + ':':<13} {ds.attrs[key]}")
    return "\n".join(lines)


def _run_info(args: argparse.Namespace) -> int:
    print(describe_recording(_open_from_args(args)))
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    for path in run_demo(args.output, overwrite=args.overwrite):
        print(f"wrote {path}")
    return 0


def _version() -> str:
    from . import __version__

    return __version__


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
        print(f"vibmag {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
