"""The index page of many reports (``vibmag batch --report DIR``): one row per recording, its dominant peak and status."""

from __future__ import annotations

import datetime
import html
import os
from dataclasses import dataclass
from pathlib import Path
from string import Template

from .. import __version__
from ..files import atomic_path
from .page import page_head

__all__ = ["IndexEntry", "write_index"]


@dataclass
class IndexEntry:
    """One recording of the index: its name, status, report (if any) and dominant peak."""

    recording: str
    status: str  # "complete", "skipped", "failed", "stale", or "report failed"
    report: Path | None = None
    frequency_hz: float | None = None
    amplitude_px: float | None = None
    message: str = ""


_INDEX = Template("""$head
<body>
<header><h1>$title</h1><p class="lead">$lead</p></header>
<main>
<section id="reports">
<table id="report-index">
<tr><th>recording</th><th>status</th><th>dominant peak [Hz]</th><th>amplitude [px]</th><th>report</th><th>note</th></tr>
$rows
</table>
</section>
</main>
<footer>Made by vibmag $version on $created.</footer>
</body>
</html>
""")


def write_index(entries, path, *, title: str = "Vibration inspection reports") -> Path:
    """Write an HTML page listing reports, with links relative to the page.

    Parameters
    ----------
    entries : sequence of IndexEntry
    path : path-like
        The index file (e.g. ``reports/index.html``).
    title : str

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    rows = []
    for entry in entries:
        link = "&ndash;"
        if entry.report is not None:
            target = os.path.relpath(Path(entry.report).resolve(), path.resolve().parent)
            link = f'<a href="{html.escape(Path(target).as_posix(), quote=True)}">{html.escape(Path(target).name)}</a>'
        freq = "&ndash;" if entry.frequency_hz is None else f"{entry.frequency_hz:.4g}"
        amp = "&ndash;" if entry.amplitude_px is None else f"{entry.amplitude_px:.3g}"
        rows.append(f'<tr data-status="{html.escape(entry.status)}"><td>{html.escape(entry.recording)}</td>'
                    f"<td>{html.escape(entry.status)}</td><td class=\"num\">{freq}</td><td class=\"num\">{amp}</td>"
                    f"<td>{link}</td><td>{html.escape(entry.message)}</td></tr>")
    made = sum(entry.report is not None for entry in entries)
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    page = _INDEX.substitute(head=page_head(title, __version__), version=__version__, title=html.escape(title), rows="\n".join(rows),
                             lead=html.escape(f"{len(entries)} recordings, {made} reports."), created=created)
    with atomic_path(path, suffix=".partial.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
