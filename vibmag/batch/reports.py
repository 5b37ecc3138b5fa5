"""``vibmag batch --report DIR``: an inspection report per recording and an index page listing them.

The reports are made after the batch, in this process, one recording at a
time (:func:`vibmag.report`, with the batch's settings: its input options,
flow method, number of peaks, and the [magnify] section's method, alpha,
region and clip length). A recording whose batch run failed is listed with its
error and gets no report; a report that fails is listed as such, and the
others go on.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import VibmagError
from ..io import open_recording
from ..io.outputs import check_output_folder
from ..reporting import MAX_CLIP_FRAMES, IndexEntry, report, write_index

__all__ = ["write_reports"]

logger = logging.getLogger("vibmag.batch")


def write_reports(outcomes, folder, settings, *, overwrite: bool = False, progress=None) -> Path:
    """Write ``folder/<recording>.html`` for every complete recording and ``folder/index.html``; return the index.

    Parameters
    ----------
    outcomes : sequence of Outcome
        From :func:`vibmag.batch.run` (``BatchReport.outcomes``).
    folder : path-like
        Created if missing.
    settings : BatchSettings
        The batch's settings.
    overwrite : bool
        Replace reports of an earlier run.
    progress : callable, optional
        ``progress(done, total)`` per report of each recording.
    """
    folder = check_output_folder(Path(folder), what="report folder")
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for outcome in outcomes:
        if outcome.status not in ("complete", "skipped", "stale"):
            entries.append(IndexEntry(outcome.recording, outcome.status, message=outcome.message))
            continue
        entries.append(_one(outcome, folder / f"{_safe(outcome.recording)}.html", settings, overwrite, progress))
    return write_index(entries, folder / "index.html", title="Vibration inspection reports: batch")


def _one(outcome, path: Path, settings, overwrite: bool, progress) -> IndexEntry:
    magnify = settings.magnify
    try:
        ds = open_recording(outcome.source, dataset=outcome.dataset or None, frame_rate=settings.input.frame_rate,
                            pixel_size=settings.input.pixel_size, bit_depth=settings.input.bit_depth)
        done = report(ds, path, method=magnify.method, alpha=magnify.alpha, region=magnify.region,
                      n_peaks=settings.analysis.n_peaks, flow_method=settings.analysis.flow_method,
                      flow_options=settings.analysis.flow_option_items(),
                      max_clip_frames=min(magnify.max_frames, MAX_CLIP_FRAMES), fps=magnify.fps, overwrite=overwrite,
                      options={"batch_recording": outcome.recording, "batch_settings": settings.source}, progress=progress)
    except (VibmagError, OSError, ValueError) as exc:
        logger.error("%s: no report: %s: %s", outcome.recording, type(exc).__name__, exc)
        return IndexEntry(outcome.recording, "report failed", message=f"{type(exc).__name__}: {exc}")
    logger.info("wrote the report of %s: %s", outcome.recording, path)
    peak = done.dominant_peak or {}
    amplitudes = [v for k, v in peak.items() if k.startswith("amplitude_") and k.endswith("_px") and "sigma" not in k and v is not None]
    return IndexEntry(outcome.recording, outcome.status, path, peak.get("frequency_hz"), max(amplitudes, default=None),
                      outcome.message)


def _safe(name: str) -> str:
    """A recording's name as a file name (path separators and odd characters become '_')."""
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "recording"
