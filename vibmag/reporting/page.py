"""The report as one self-contained HTML page: a :class:`string.Template`, inline CSS, data URIs, no script.

Nothing on the page points outside it: the plots are PNG data URIs, the clip
an MP4 data URI with a PNG poster, the data files ``data:`` download links,
and the style sheet is inline. Every string that comes from the recording or
the user passes :func:`html.escape`. Every number of the tables carries its
full value in a ``data-value`` attribute (what the text shows is rounded).
"""

from __future__ import annotations

import base64
import html
import json
import math
from string import Template

from ..analysis.spectra import SNR_MIN
from .content import ReportContent

__all__ = ["render_page", "SECTIONS", "page_style", "page_head"]

#: ``id`` and heading of every section of a report, in order.
SECTIONS = {
    "recording": "Recording",
    "survey": "Survey: where it moves",
    "spectrum": "Spectrum and peaks",
    "shapes": "Operating deflection shapes",
    "points": "Waveform and orbit",
    "clip": "Magnified clip",
    "provenance": "Settings and provenance",
    "data": "Data files",
}

_HEAD = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="vibmag $version">
<title>$title</title>
<style>
$style
</style>
</head>""")

_PAGE = Template("""$head
<body>
<header>
<h1>$title</h1>
<p class="lead">$lead</p>
<nav><ol>$nav</ol></nav>
</header>
<main>
$sections
</main>
<footer>Made by vibmag $version on $created. This file is self-contained: it loads nothing from anywhere.</footer>
</body>
</html>
""")

_SECTION = Template("""<section id="$id">
<h2>$number. $heading</h2>
$body
</section>""")


def page_head(title: str, version: str) -> str:
    """The ``<!DOCTYPE>`` and ``<head>`` of a page of ours: title (escaped here), generator line, inline style."""
    return _HEAD.substitute(version=_e(version), title=_e(title), style=page_style())


def page_style() -> str:
    """The report's style sheet (system fonts only, print-friendly)."""
    return """
:root { --ink: #1d2733; --muted: #5b6775; --line: #d5dbe2; --accent: #c2571a; --band: #fbe9dc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #f4f6f8; }
header, main, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--accent); }
h3 { font-size: 16px; margin: 18px 0 6px; }
.lead { font-size: 16px; color: var(--muted); margin: 0 0 12px; }
.lead b { color: var(--ink); }
nav ol { display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0; margin: 0 0 16px; list-style: none; counter-reset: s; }
nav li { counter-increment: s; }
nav li::before { content: counter(s) ". "; color: var(--muted); }
nav a, section a { color: #1c5fa8; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 18px 22px; margin: 0 0 18px;
          break-inside: avoid-page; }
p.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; }
p.warning { color: #8a3b00; background: #fff4e5; border-left: 3px solid var(--accent); padding: 4px 10px; font-size: 13px; }
figure { margin: 10px 0 14px; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.facts th { width: 220px; background: none; font-weight: 600; color: var(--muted); }
tr.dominant td { background: var(--band); }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px;
              word-break: break-all; }
video { display: block; width: 100%; max-width: 1060px; background: #000; border-radius: 4px; }
.downloads a { display: inline-block; margin: 0 14px 6px 0; padding: 4px 12px; border: 1px solid var(--line);
               border-radius: 4px; text-decoration: none; background: #f7f9fb; }
footer { color: var(--muted); font-size: 12px; padding-bottom: 24px; }
@media print { body { background: #fff; } section { border: none; padding: 0; } video { display: none; } }
"""


def render_page(content: ReportContent, *, files: dict | None = None) -> str:
    """The HTML text of a report; ``files`` names the data files written beside it (name -> role)."""
    data = content.data
    parts = {
        "recording": _recording(data["recording"]),
        "survey": _survey(content),
        "spectrum": _spectrum(content),
        "shapes": _shapes(content),
        "points": _points(content),
        "clip": _clip(content),
        "provenance": _provenance(data),
        "data": _data(content, files or {}),
    }
    sections = "\n".join(_SECTION.substitute(id=key, number=i, heading=_e(SECTIONS[key]), body=parts[key])
                         for i, key in enumerate(SECTIONS, start=1))
    nav = "".join(f'<li><a href="#{key}">{_e(heading)}</a></li>' for key, heading in SECTIONS.items())
    version = data["provenance"]["vibmag_version"]
    return _PAGE.substitute(head=page_head(data["title"], version), version=_e(version), title=_e(data["title"]),
                            lead=_lead(data), nav=nav, sections=sections, created=_e(data["provenance"]["created"]))


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _num(value, digits: int = 4, *, unit: str = "") -> str:
    """A table cell with the value rounded to ``digits`` significant digits and its full value in data-value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '<td class="num" data-value="nan">&ndash;</td>'
    text = f"{value:.{digits}g}" + (f" {unit}" if unit else "")
    return f'<td class="num" data-value="{float(value)!r}">{_e(text)}</td>'


def _lead(data: dict) -> str:
    peak = data.get("dominant_peak")
    rec = data["recording"]
    facts = f"{rec['frames']} frames at {rec['frame_rate_hz']:.6g} Hz ({rec['duration_s']:.4g} s), {rec['width_px']} x {rec['height_px']} px"
    if peak is None:
        return _e(f"{facts}. No spectral peak was found.")
    low, high = data["band_hz"]
    return (f"{_e(facts)}. Dominant vibration: <b>{peak['frequency_hz']:.4g} Hz</b> ({peak['rpm']:.4g} rpm); "
            f"band magnified {low:.4g} &ndash; {high:.4g} Hz.")


def _facts(rows) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _recording(rec: dict) -> str:
    size = rec["pixel_size_mm"]
    rows = [
        ("file", _e(rec["file"])),
        ("source", f'<span class="mono">{_e(rec["source"])}</span>'),
        ("format", _e(rec["format"])),
        ("camera", _e(rec["camera"])),
        ("capture rate", _e(f"{rec['frame_rate_hz']:.6g} Hz ({rec['frame_rate_source']})")),
    ]
    if rec["record_rate"]:
        rows.append(("record rate, save step", _e(f"{rec['record_rate']}, every {rec['save_step'] or 1} frame(s) saved")))
    rows += [
        ("frames, duration", _e(f"{rec['frames']} frames, {rec['duration_s']:.6g} s")),
        ("resolution", _e(f"{rec['width_px']} x {rec['height_px']} px (width x height)"
                          + (f", {rec['channels']} channels" if rec["channels"] > 1 else ""))),
        ("pixel size", _e(f"{size:.6g} mm ({rec['pixel_size_source']})" if size else rec["pixel_size_source"])),
        ("bit depth", _e(rec["bit_depth"])),
    ]
    rows += [(f"SHA-256 of {name}", f'<span class="mono">{_e(digest)}</span>') for name, digest in rec["hashes"].items()]
    return _facts(rows)


def _img(content: ReportContent, name: str, alt: str, caption: str = "") -> str:
    png = base64.b64encode(content.figures[name]).decode("ascii")
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure id="figure-{_e(name)}"><img src="data:image/png;base64,{png}" alt="{_e(alt)}">{cap}</figure>'


def _survey(content: ReportContent) -> str:
    stats = content.data["survey"]
    mm = content.data["recording"]["pixel_size_mm"]
    head = "<tr><th>map</th><th>component</th><th>largest [px]</th><th>median [px]</th>" + ("<th>largest [mm]</th><th>median [mm]</th>" if mm else "") + "<th>largest at (y, x)</th></tr>"
    rows = []
    for name, label in (("rms", "RMS displacement"), ("peak_to_peak", "peak-to-peak displacement")):
        for c, s in stats[name].items():
            cells = _num(s["max_px"]) + _num(s["median_px"]) + (_num(s["max_mm"]) + _num(s["median_mm"]) if mm else "")
            rows.append(f'<tr data-map="{name}" data-component="{_e(c)}"><td>{label}</td><td>{_e(c)}</td>{cells}<td>{_e(tuple(s["at_yx"]))}</td></tr>')
    return ('<p class="note">How far each pixel moves over the whole recording (all frequencies), per component, drawn '
            "over the first frame where that component can be measured (the image has texture along it; elsewhere "
            "the flow is ill-determined and left grey).</p>"
            + _img(content, "rms", "RMS displacement maps") + _img(content, "peak_to_peak", "peak-to-peak displacement maps")
            + f"<table>{head}{''.join(rows)}</table>")


def _component_names(rows: list[dict]) -> list[str]:
    return [key[len("amplitude_"):-len("_px")] for key in (rows[0] if rows else {}) if key.startswith("amplitude_") and key.endswith("_px") and "sigma" not in key]


def _spectrum(content: ReportContent) -> str:
    data = content.data
    rows = data["peaks"]
    components = _component_names(rows)
    mm = data["recording"]["pixel_size_mm"]
    sigma = any(k.startswith("amplitude_sigma_") for row in rows for k in row)
    snr = any("snr" in row for row in rows)
    cycles = any("cycles" in row for row in rows)
    head = ["#", "frequency [Hz]", "rpm"]
    for c in components:
        head.append(f"amplitude {c} [px]")
        if sigma:
            head.append(f"&plusmn; {c} [px]")
        if mm:
            head.append(f"amplitude {c} [mm]")
            if sigma:
                head.append(f"&plusmn; {c} [mm]")
    if snr:
        head.append("SNR")
    head += ["Q", "&minus;3 dB width [Hz]"] + (["periods in the record"] if cycles else [])
    dominant = (data.get("dominant_peak") or {}).get("peak")
    body = []
    for row in rows:
        cells = [f'<td class="num">{row["peak"]}</td>', _num(row["frequency_hz"]), _num(row["rpm"])]
        for c in components:
            cells.append(_num(row[f"amplitude_{c}_px"], 3))
            if sigma:
                cells.append(_num(row.get(f"amplitude_sigma_{c}_px"), 2))
            if mm:
                cells.append(_num(row.get(f"amplitude_{c}_mm"), 3))
                if sigma:
                    cells.append(_num(row.get(f"amplitude_sigma_{c}_mm"), 2))
        if snr:
            cells.append(_num(row.get("snr"), 3))
        cells += [_num(row["q"], 3), _num(row["bandwidth_hz"], 3)]
        if cycles:
            cells.append(_num(row.get("cycles"), 3, unit="" if row.get("resolved", True) else "(drift or step)"))
        mark = ' class="dominant"' if row["peak"] == dominant else ""
        body.append(f'<tr data-peak="{row["peak"]}"{mark}>{"".join(cells)}</tr>')
    table = (f'<table id="peak-table"><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{"".join(body)}</table>'
             if rows else "<p>No spectral peak was found.</p>")
    low, high = data["band_hz"]
    note = (f"Peaks of the region-average amplitude spectrum, largest first (vibmag.analysis.find_peaks); amplitudes "
            f"are the sinusoid's peak amplitude per component. The shaded row is the dominant peak; its band "
            f"{low:.4g} - {high:.4g} Hz ({data['band_chosen']}) is the one magnified. Q is the frequency over the "
            "half-power width (resolution-limited for peaks as narrow as the window). Periods in the record: the "
            "peak's frequency times the record's length; a peak with fewer than the window's main lobe is wide "
            "(Hann: 2) cannot be told from a drift or a step and is marked so.")
    if sigma:
        note += (f" ± is the amplitude's 1-sigma uncertainty and SNR the peak over the noise floor, from "
                 f"{data.get('noise', 'the noise')} (find_peaks' noise columns; under {SNR_MIN:g} the peak stands within the noise).")
    else:
        note += " No noise estimate was available, so the amplitudes carry no uncertainty."
    return _img(content, "spectrum", "amplitude spectrum with peaks") + table + f'<p class="note">{_e(note)}</p>'


def _shapes(content: ReportContent) -> str:
    out = ['<p class="note">The complex amplitude of the motion at each peak frequency, per pixel '
           "(vibmag.analysis.deflection_shape): magnitude of the x-y motion and phase of its stronger component "
           "(blank where the motion is under 5 % of its largest). Pixels in phase move together; 180&deg; apart, against each other.</p>"]
    if not content.data["shapes"]:
        out.append("<p>No peak lies between 0 Hz and Nyquist.</p>")
    unresolved = {peak["peak"] for peak in content.data["peaks"] if not peak.get("resolved", True)}
    for row in content.data["shapes"]:
        components = [k[len("magnitude_"):-len("_px")] for k in row if k.startswith("magnitude_") and k.endswith("_px")]
        head = "<tr><th>largest motion at (y, x)</th>" + "".join(f"<th>|c<sub>{c}</sub>| [px]</th><th>phase {c} [deg]</th>" for c in components) + "</tr>"
        cells = "".join(_num(row[f"magnitude_{c}_px"], 4) + _num(row[f"phase_{c}_deg"], 4) for c in components)
        flag = " (too few periods in the record: a drift or a step, not a vibration)" if row["peak"] in unresolved else ""
        out.append(f'<h3 id="shape-{row["peak"]}">Peak {row["peak"]}: {row["frequency_hz"]:.4g} Hz{_e(flag)}</h3>'
                   f'<table class="shape" data-peak="{row["peak"]}">{head}<tr><td>{_e(tuple(row["at_yx"]))}</td>{cells}</tr></table>'
                   + _img(content, f"shape{row['peak'] - 1}", f"deflection shape at {row['frequency_hz']:.4g} Hz"))
    return "\n".join(out)


def _points(content: ReportContent) -> str:
    out = []
    for j, row in enumerate(content.data["points"]):
        y, x = row["point_yx"]
        components = [k[len("rms_"):-len("_px")] for k in row if k.startswith("rms_") and k.endswith("_px")]
        head = "".join(f"<th>RMS {c} [px]</th><th>peak-to-peak {c} [px]</th>" for c in components)
        cells = "".join(_num(row[f"rms_{c}_px"], 3) + _num(row[f"peak_to_peak_{c}_px"], 3) for c in components)
        if f"dominant_amplitude_{components[0]}_px" in row:
            head += "".join(f"<th>at the dominant peak {c} [px]</th>" for c in components)
            cells += "".join(_num(row[f"dominant_amplitude_{c}_px"], 3) for c in components)
        note = f'<p class="note">{_e(row["note"])}</p>' if "note" in row else ""
        out.append(f'<h3>Point (y, x) = ({y:g}, {x:g}) px: {_e(row["chosen"])}</h3>'
                   f'<table class="point" data-point="{j}"><tr>{head}</tr><tr>{cells}</tr></table>{note}'
                   + _img(content, f"point{j}", f"waveform and orbit at ({y:g}, {x:g})"))
    return ('<p class="note">Displacement over time at each point (all motion, about its mean) and the path the point '
            "traces in the magnified band (y down, as in the image).</p>" + "\n".join(out))


def _clip(content: ReportContent) -> str:
    clip = content.data.get("clip")
    if clip and "error" in clip:
        return f'<p class="warning">No clip could be made: {_e(clip["error"])}</p>'
    if not clip or content.clip is None:
        return "<p>No clip was made (clip=False).</p>"
    video = base64.b64encode(content.clip).decode("ascii")
    poster = base64.b64encode(content.poster).decode("ascii")
    rec = content.data["recording"]
    t0, t1 = clip["time_s"]
    caption = (f"Original and magnified ({clip['label']}), frames 1 to {clip['frames']} of {rec['frames']} "
               f"(recording time {t0:.4g} - {t1:.4g} s, stamped on each frame)"
               + (f", every {clip['stride']}th pixel" if clip["stride"] > 1 else "") + ".")
    return (f'<video id="clip-video" controls loop muted playsinline preload="auto" poster="data:image/png;base64,{poster}">'
            f'<source src="data:video/mp4;base64,{video}" type="video/mp4">Your browser does not play H.264 video.</video>'
            f'<p class="note">{_e(caption)}</p>'
            + "".join(f'<p class="warning">vibmag warned while magnifying: {_e(note)}</p>' for note in clip.get("warnings", ())))


def _provenance(data: dict) -> str:
    prov, settings = data["provenance"], data["settings"]
    rows = [("vibmag version", _e(prov["vibmag_version"])), ("method", _e(prov["method"])),
            ("model (weights hash)", f'<span class="mono">{_e(prov["model"])}</span>'),
            ("created (UTC)", _e(prov["created"])),
            ("software", _e(f"Python {prov['python']}, NumPy {prov['numpy']}, xarray {prov['xarray']}; {prov['platform']}"))]
    rows += [(f"option {key}", f'<span class="mono">{_e(json.dumps(value))}</span>') for key, value in settings.items()]
    return _facts(rows)


def _data_uri(text: str, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(text.encode()).decode('ascii')}"


def _data(content: ReportContent, files: dict) -> str:
    links = [f'<a download="report.json" href="{_data_uri(json.dumps(content.data, indent=1), "application/json")}">report.json</a>']
    links += [f'<a download="{_e(name)}" href="{_data_uri(text, "text/csv")}">{_e(name)}</a>' for name, text in content.csv.items()]
    beside = "".join(f"<li><code>{_e(name)}</code>: {_e(role)}</li>" for name, role in files.items())
    return ('<p class="note">The numbers of this report, embedded in this file (click to save):</p>'
            f'<p class="downloads">{"".join(links)}</p>'
            + (f"<p>Written beside this file:</p><ul>{beside}</ul>" if beside else ""))
