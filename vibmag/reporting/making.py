"""``vibmag.report``: compute a report's content, lay out the page, write it and its data files."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from ..errors import OutputError, OverwriteError
from ..files import atomic_path
from ..flow import check_flow_options
from ..io import open_recording
from ..io.outputs import check_output, input_files
from .content import DEFAULT_ALPHA, MAX_CLIP_FRAMES, MAX_CLIP_SIZE, build_content, check_points
from .page import render_page

__all__ = ["report", "Report", "report_targets", "check_report_outputs"]

#: What a page of ours starts with (the generator line): how an existing report is recognised before it is replaced.
_OUR_PAGE = b'<meta name="generator" content="vibmag'


def report_targets(output, *, data_files: bool = True) -> dict:
    """The files a report writes, path -> what it holds: the HTML and (with ``data_files``) its JSON and CSV beside it."""
    output = Path(output)
    targets = {output: "the report"}
    if data_files:
        targets.update({output.with_name(f"{output.stem}.json"): "every number of the report (JSON)",
                        output.with_name(f"{output.stem}_peaks.csv"): "the peak table (CSV)",
                        output.with_name(f"{output.stem}_spectrum.csv"): "the spectrum (CSV)"})
    return targets


def check_report_outputs(output, *, inputs=(), overwrite: bool = False, data_files: bool = True) -> dict:
    """Refuse a report's outputs before any work (as :func:`vibmag.io.outputs.check_output` does); return the targets.

    The page must end in ``.html`` or ``.htm``; an existing page or JSON file
    is replaced (with ``overwrite``) only if it is a report vibmag wrote.
    """
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise OutputError(f"{output}: a report is an HTML file; name it REPORT.html")
    targets = report_targets(output, data_files=data_files)
    for path in targets:
        if path.suffix.lower() == ".csv" or not path.exists():
            check_output(path, suffixes=(path.suffix.lower(),), inputs=inputs, overwrite=overwrite, what="report")
            continue
        if any(Path(f).resolve() == path.resolve() for source in inputs for f in input_files(source)):
            raise OverwriteError(f"{path}: is an input recording; write the report elsewhere")
        if not overwrite:
            raise OverwriteError(f"{path}: exists; pass overwrite=True to replace it")
        if not path.is_file() or not _is_ours(path):
            raise OverwriteError(f"{path}: exists and is not a report vibmag wrote; refusing to replace it")
    return targets


def _is_ours(path: Path) -> bool:
    if path.suffix.lower() == ".json":
        return b'"vibmag_version"' in path.read_bytes()
    with open(path, "rb") as f:
        return _OUR_PAGE in f.read(4096)


@dataclass
class Report:
    """A report written: the HTML page, the data files beside it, and the data (what ``<stem>.json`` holds)."""

    path: Path
    data: dict
    files: list = field(default_factory=list)

    @property
    def dominant_peak(self) -> dict | None:
        """The peak table row of the dominant peak (``frequency_hz``, ``rpm``, ``amplitude_x_px``...), or None."""
        return self.data.get("dominant_peak")


def report(
    ds,
    output,
    *,
    band=None,
    region=None,
    method: str = "flowmag",
    alpha: float = DEFAULT_ALPHA,
    n_peaks: int = 5,
    points=None,
    reference: int = 0,
    adapt_steps: int = 0,
    model=None,
    flow_method: str | None = None,
    flow_options: dict | None = None,
    max_clip_frames: int = MAX_CLIP_FRAMES,
    max_clip_size: int = MAX_CLIP_SIZE,
    fps: float | None = None,
    clip: bool = True,
    data_files: bool = True,
    overwrite: bool = False,
    options: dict | None = None,
    progress=None,
    cancel: threading.Event | None = None,
) -> Report:
    """Write the inspection report of a recording: one self-contained HTML file (and its data as JSON and CSV).

    Parameters
    ----------
    ds : xarray.Dataset or path-like
        A recording (:func:`vibmag.open_recording`), or a path to open.
    output : path-like
        The HTML file (``report.html``).
    band : (low, high), optional
        Band whose motion is magnified and whose orbit is shown, with units
        (``("15 Hz", "35 Hz")``). Default: around the dominant peak
        (:func:`vibmag.pipeline.dominant_band`).
    region : mask, polygon or box, optional
        Where the spectrum is taken and the clip magnified (default: whole frame).
    method : str
        Magnification method of the clip (:func:`vibmag.magnify`).
    alpha : float
        Magnification of the clip.
    n_peaks : int
        Peaks in the table (each gets its deflection shape).
    points : sequence of (y, x), optional
        Pixels whose waveform and orbit are shown. Default: the point that
        moves most at the dominant peak.
    reference, adapt_steps, model, flow_method, flow_options
        As in :func:`vibmag.magnify` (``flow_method`` and ``flow_options`` also
        measure the displacement; the clip of a method that measures none,
        linear or phase, does without them).
    max_clip_frames : int
        The clip shows at most the first this-many frames.
    max_clip_size : int
        Longer side of a clip panel in px at most (larger frames are subsampled).
    fps : float, optional
        Playback rate of the clip (default: :func:`vibmag.write_video`'s).
    clip : bool
        Make the magnified clip (the slowest part with ``method="flowmag"``).
    data_files : bool
        Also write ``<stem>.json``, ``<stem>_peaks.csv`` and
        ``<stem>_spectrum.csv`` beside the HTML (they are embedded in it either way).
    overwrite : bool
        Replace existing outputs.
    options : dict, optional
        More settings to list under "Settings and provenance" (e.g. the command line).
    progress, cancel
        ``progress(done, total)`` and a :class:`threading.Event`, as in :func:`vibmag.magnify`.

    Returns
    -------
    Report
        ``path`` of the HTML, ``files`` written, ``data`` (all the numbers).

    Raises
    ------
    OverwriteError
        If an output exists and ``overwrite`` is False (checked before any work).
    ReportError
        If a named point lies outside the frame.

    Examples
    --------
    >>> import vibmag
    >>> from vibmag.synthetic import Mode, vibrating_plate
    >>> ds = vibrating_plate((48, 48), n_frames=64, frame_rate="1 kHz", modes=[Mode("125 Hz", 0.3)])
    >>> done = vibmag.report(ds, tmp / "plate.html", method="lagrangian", n_peaks=2, progress=False)  # doctest: +SKIP
    >>> round(done.dominant_peak["frequency_hz"])  # doctest: +SKIP
    125
    """
    output = Path(output)
    targets = check_report_outputs(output, inputs=[ds], overwrite=overwrite, data_files=data_files)
    if not isinstance(ds, xr.Dataset):
        if not isinstance(ds, (str, os.PathLike)):
            raise TypeError(f"report needs a recording (xarray.Dataset) or a path, got {type(ds).__name__}")
        ds = open_recording(ds)
    check_points(points, ds)
    flow_options = check_flow_options(flow_method, flow_options)
    content = build_content(ds, band=band, region=region, method=method, alpha=alpha, n_peaks=n_peaks, points=points,
                            reference=reference, adapt_steps=adapt_steps, model=model, flow_method=flow_method,
                            flow_options=flow_options, max_clip_frames=max_clip_frames, max_clip_size=max_clip_size, fps=fps, clip=clip,
                            options=options, progress=progress, cancel=cancel)
    beside = {p.name: role for p, role in targets.items() if p != output}
    page = render_page(content, files=beside)
    texts = {output: page}
    if data_files:
        paths = list(targets)
        texts.update({paths[1]: json.dumps(content.data, indent=1) + "\n", paths[2]: content.csv["peaks.csv"],
                      paths[3]: content.csv["spectrum.csv"]})
    for path, text in texts.items():
        with atomic_path(path, suffix=".partial" + path.suffix) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return Report(output, content.data, list(texts))
