"""The inspection report: one self-contained HTML file per recording that an engineer can hand on.

:func:`report` (``vibmag.report``, ``vibmag report RECORDING -o report.html``)
measures a recording once and writes a page with the recording's facts and
file hash, the survey maps, the spectrum with its peak table, the operating
deflection shape at each peak, the waveform and orbit at named points (or the
strongest one), the magnified clip beside the original, and the settings and
provenance, plus the same numbers as JSON and CSV files beside it (and
embedded as download links). :func:`write_index` lists many reports (``vibmag
batch --report DIR``).

The package is named ``reporting``, not ``report``: a subpackage named like the
function ``vibmag.report`` would make that name mean the module or the
function depending on import order (docs/architecture.md, "Module names").

* :mod:`~vibmag.reporting.content`: what a report says, computed through
  :mod:`vibmag.pipeline` and :mod:`vibmag.analysis`;
* :mod:`~vibmag.reporting.page`: the HTML page (a :class:`string.Template`);
* :mod:`~vibmag.reporting.index`: the index page of a batch's reports.
"""

from .content import DEFAULT_ALPHA, MAX_CLIP_FRAMES, MAX_CLIP_SIZE, ReportContent, ReportError, build_content
from .index import IndexEntry, write_index
from .making import Report, check_report_outputs, report, report_targets
from .page import SECTIONS, render_page

__all__ = [
    "report",
    "Report",
    "check_report_outputs",
    "report_targets",
    "ReportError",
    "ReportContent",
    "build_content",
    "render_page",
    "write_index",
    "IndexEntry",
    "SECTIONS",
    "DEFAULT_ALPHA",
    "MAX_CLIP_FRAMES",
    "MAX_CLIP_SIZE",
]
