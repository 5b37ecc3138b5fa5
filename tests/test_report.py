"""The inspection report (vibmag.report, ``vibmag report``): a self-contained HTML page whose numbers are vibmag's own.

Reports are made for the shipped beam recording and for a synthetic plate with
known modes. Each must parse as HTML, hold every section, show the numbers of
find_peaks and deflection_shape on the same data, point at nothing outside
itself, render in headless Chromium to a non-blank page, and embed a clip that
decodes to the expected number of frames.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import html5lib
import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

import vibmag
from vibmag.analysis import deflection_shape, find_peaks, resolved_peaks, spectrum, systematic_spectrum
from vibmag.cli import main as cli_main
from vibmag.errors import OverwriteError
from vibmag.analysis.spectra import noise_level
from vibmag.flow import estimate_displacement
from vibmag.flow.api import supports_uncertainty
from vibmag.io.video import read_video
from vibmag.reporting import SECTIONS, IndexEntry, ReportError, write_index
from vibmag.sample_data import open_sample
from vibmag.synthetic import Mode, vibrating_plate
from vibmag.units import frequency_hz
from vibmag.viz import plot_spectrum

PLATE_MODES = [Mode("125 Hz", 0.4, direction=90.0, shape="bending"), Mode("281.25 Hz", 0.2, direction=90.0, shape="bending2")]  # on bins
PIXEL_SIZE_MM = 0.05


def plate():
    return vibrating_plate((48, 64), n_frames=64, frame_rate="1 kHz", modes=PLATE_MODES, pixel_size=f"{PIXEL_SIZE_MM} mm")


@pytest.fixture(scope="module")
def beams(tmp_path_factory):
    ds = open_sample("showcase_beams")
    out = tmp_path_factory.mktemp("beams") / "beams.html"
    done = vibmag.report(ds, out, method="lagrangian", progress=False)
    return ds, done


@pytest.fixture(scope="module")
def plate_report(tmp_path_factory):
    ds = plate()
    out = tmp_path_factory.mktemp("plate") / "plate.html"
    done = vibmag.report(ds, out, method="lagrangian", n_peaks=3, max_clip_frames=40, progress=False)
    return ds, done


@pytest.fixture(params=["beams", "plate_report"])
def made(request):
    return request.getfixturevalue(request.param)


_MEASURED = {}


def displacement(ds):
    """The recording's displacement, measured once per recording of this module."""
    if id(ds) not in _MEASURED:
        measured = estimate_displacement(ds, progress=False, return_uncertainty=True).compute()
        _MEASURED[id(ds)] = (ds, measured)
    return _MEASURED[id(ds)][1]["displacement"]


def error_parts(ds):
    """Its frame-to-frame noise and estimated motion-model error (estimate_displacement(return_uncertainty=True))."""
    displacement(ds)
    measured = _MEASURED[id(ds)][1]
    return measured["noise"], measured["model_error"]


def parse(path: Path):
    return html5lib.parse(path.read_text(encoding="utf-8"), namespaceHTMLElements=False)


def values(row) -> list[float]:
    return [float(td.get("data-value")) for td in row.iter("td") if td.get("data-value") is not None]


def test_report_parses_and_has_every_section(made):
    _, done = made
    root = parse(done.path)
    ids = [section.get("id") for section in root.iter("section")]
    assert ids == list(SECTIONS)
    headings = [h.text for h in root.iter("h2")]
    assert headings == [f"{i}. {title}" for i, title in enumerate(SECTIONS.values(), start=1)]
    text = "".join(root.itertext())
    for words in ("SHA-256 of", "capture rate", "bit depth", "pixel size", "vibmag version", "model (weights hash)", "created (UTC)"):
        assert words in text, words
    images = [img.get("src") for img in root.iter("img")]
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)


def test_the_recording_section_names_the_files_and_their_hashes(beams):
    ds, done = beams
    rec = done.data["recording"]
    assert rec["camera"] == ds.attrs["camera"] and rec["frames"] == 75 and (rec["width_px"], rec["height_px"]) == (640, 40)
    assert rec["frame_rate_hz"] == 150.0 and rec["save_step"] == "100"
    for name, digest in rec["hashes"].items():
        assert hashlib.sha256((Path(ds.attrs["source"]).parent / name).read_bytes()).hexdigest() == digest
    assert {Path(n).suffix for n in rec["hashes"]} == {".cih", ".mraw"}
    assert all(digest in done.path.read_text() for digest in rec["hashes"].values())


def test_the_peak_table_is_find_peaks_on_the_same_data(made):
    ds, done = made
    n = len(done.data["peaks"])
    spec = spectrum(displacement(ds))
    peaks = find_peaks(spec, n=n)
    peak_table = next(t for t in parse(done.path).iter("table") if t.get("id") == "peak-table")
    header = ["".join(th.itertext()) for th in peak_table.iter("th")]
    rows = [values(tr) for tr in peak_table.iter("tr") if tr.get("data-peak")]
    assert len(rows) == n == peaks.sizes["peak"] and all(len(row) == len(header) - 1 for row in rows)  # "#" has no data-value
    columns = {name: np.array([row[i - 1] for row in rows]) for i, name in enumerate(header) if i}
    np.testing.assert_allclose(columns["frequency [Hz]"], peaks["frequency"].values, rtol=1e-9)
    np.testing.assert_allclose(columns["rpm"], peaks["rpm"].values, rtol=1e-9)
    np.testing.assert_allclose(columns["Q"], peaks["q"].values, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(columns["\u22123 dB width [Hz]"], peaks["bandwidth"].values, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(columns["periods in the record"], peaks["cycles"].values, rtol=1e-9)
    marked = ["drift or step" in "".join(tr.itertext()) for tr in peak_table.iter("tr") if tr.get("data-peak")]
    assert marked == (~resolved_peaks(peaks)).tolist()
    size = done.data["recording"]["pixel_size_mm"]
    for c in peaks["component"].values:
        amplitude = peaks["amplitude"].sel(component=c).values
        np.testing.assert_allclose(columns[f"amplitude {c} [px]"], amplitude, rtol=1e-9)
        if size:
            np.testing.assert_allclose(columns[f"amplitude {c} [mm]"], amplitude * size, rtol=1e-9)
    if "\u00b1 x [px]" in columns:  # find_peaks' uncertainty columns, when it has them (from the measured error parts)
        if supports_uncertainty():
            noise, model_error = error_parts(ds)
            noisy = find_peaks(spec, n=n, noise=noise_level(noise),
                               systematic=systematic_spectrum(displacement(ds), model_error))
        else:
            noisy = find_peaks(spec, n=n, noise="spectrum")
        for c in peaks["component"].values:
            np.testing.assert_allclose(columns[f"\u00b1 {c} [px]"], noisy["amplitude_sigma"].sel(component=c).values, rtol=1e-9)
        np.testing.assert_allclose(columns["SNR"], noisy["snr"].values, rtol=1e-9)


def test_the_plate_report_finds_its_modes_in_mm(plate_report):
    _, done = plate_report
    found = sorted(row["frequency_hz"] for row in done.data["peaks"][:2])
    np.testing.assert_allclose(found, [125.0, 281.25], atol=0.5)
    assert done.dominant_peak["frequency_hz"] == pytest.approx(125.0, abs=0.5)
    low, high = done.data["band_hz"]
    assert low < 125.0 < high
    top = done.dominant_peak
    assert top["amplitude_y_mm"] == pytest.approx(top["amplitude_y_px"] * PIXEL_SIZE_MM)
    assert "amplitude y [mm]" in done.path.read_text()


def test_the_deflection_shapes_are_deflection_shape_at_each_peak(made):
    ds, done = made
    disp = displacement(ds)
    tables = [t for t in parse(done.path).iter("table") if t.get("class") == "shape"]
    assert len(tables) == len(done.data["shapes"]) >= 2
    for table, row in zip(tables, done.data["shapes"]):
        shape = deflection_shape(disp, f"{row['frequency_hz']!r} Hz")
        y, x = row["at_yx"]
        c = shape.isel(y=y, x=x).values
        expected = [v for value in c for v in (abs(value), np.angle(value, deg=True))]
        np.testing.assert_allclose(values(table), expected, rtol=1e-9, atol=1e-9)
    # a shape at a peak with too few periods in the record (the beams' drift) says it is no vibration
    headings = {int(h.get("id").split("-")[1]): "".join(h.itertext()) for h in parse(done.path).iter("h3")
                if (h.get("id") or "").startswith("shape-")}
    unresolved = {p["peak"] for p in done.data["peaks"] if not p["resolved"]}
    assert {peak for peak, text in headings.items() if "not a vibration" in text} == unresolved & set(headings)
    if "showcase" in str(ds.attrs.get("source", "")):
        assert unresolved  # the 1.3 Hz step in x


def test_the_plate_shape_peaks_where_the_mode_moves(plate_report):
    ds, done = plate_report
    row = next(r for r in done.data["shapes"] if abs(r["frequency_hz"] - 125.0) < 0.5)
    true = np.abs(ds["true_displacement"].sel(component="y").values).max(axis=0)
    y, x = row["at_yx"]
    assert true[y, x] > 0.6 * true.max()  # the strongest point of the measured shape is where the true mode is large
    bending = np.sin(np.pi * (x + 0.5) / ds.sizes["x"])  # the mode's shape (vibmag.synthetic.Mode, "bending")
    assert row["magnitude_y_px"] == pytest.approx(0.4 * bending, rel=0.1)
    assert row["magnitude_x_px"] < 0.1 * row["magnitude_y_px"]


def test_nothing_points_outside_the_page(made):
    _, done = made
    root = parse(done.path)
    assert not list(root.iter("script")) and not list(root.iter("link")) and not list(root.iter("iframe"))
    for element in root.iter():
        for name in ("src", "href", "poster", "srcset", "data", "action"):
            value = element.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), f"<{element.tag} {name}={value[:60]!r}>"
    assert "http://" not in "".join(root.find("head").itertext()) and "@import" not in done.path.read_text()


def test_the_embedded_clip_decodes_to_its_frames(made, tmp_path):
    ds, done = made
    root = parse(done.path)
    video = next(root.iter("video"))
    source = next(video.iter("source"))
    assert source.get("type") == "video/mp4"
    head, _, payload = source.get("src").partition(",")
    assert head == "data:video/mp4;base64"
    path = tmp_path / "clip.mp4"
    path.write_bytes(base64.b64decode(payload))
    clip = read_video(path)
    expected = min(ds.sizes["time"], done.data["settings"]["max_clip_frames"])
    assert clip.sizes["time"] == done.data["clip"]["frames"] == expected
    assert float(clip["frames"].std()) > 0.02  # pictures, not a blank stream
    assert b"avc1" in path.read_bytes()  # H.264, which every browser plays
    assert video.get("poster").startswith("data:image/png;base64,")
    assert done.data["clip"]["label"] in "".join(root.itertext())
    assert len(payload) * 3 / 4 < 8e6  # sized for a page


def test_the_data_files_beside_the_page_hold_its_numbers(made):
    _, done = made
    names = sorted(p.name for p in done.files)
    stem = done.path.stem
    assert names == sorted([f"{stem}.html", f"{stem}.json", f"{stem}_peaks.csv", f"{stem}_spectrum.csv"])
    data = json.loads(done.path.with_name(f"{stem}.json").read_text())
    assert data["peaks"] == done.data["peaks"] and data["provenance"]["vibmag_version"] == vibmag.__version__
    lines = done.path.with_name(f"{stem}_peaks.csv").read_text().splitlines()
    assert len(lines) == len(done.data["peaks"]) + 1 and lines[0].startswith("peak,frequency_hz,rpm")
    assert float(lines[1].split(",")[1]) == pytest.approx(done.data["peaks"][0]["frequency_hz"], rel=1e-9)
    links = {a.get("download"): a.get("href") for a in parse(done.path).iter("a") if a.get("download")}
    assert set(links) == {"report.json", "peaks.csv", "spectrum.csv"}
    embedded = json.loads(base64.b64decode(links["report.json"].partition(",")[2]))
    assert embedded["peaks"] == done.data["peaks"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_the_report_renders_in_headless_chromium(made, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("no chromium here")
    _, done = made
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400",
                    f"--screenshot={shot}", done.path.resolve().as_uri()], capture_output=True, timeout=120,
                   env={**os.environ, "HOME": str(tmp_path)})
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape == (2400, 1280, 3)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 500  # plots, text and the page's colours, not a blank or error page
    band = image[:, 100:1180]
    assert (band.std(axis=(1, 2)) > 5).mean() > 0.3  # content over much of the page's height


def test_named_points_and_the_command_line(tmp_path, capsys):
    ds = plate()
    recording = tmp_path / "plate.h5"
    vibmag.save(ds.drop_vars("true_displacement"), recording)
    out = tmp_path / "out.html"
    assert cli_main(["report", str(recording), "-o", str(out), "--method", "lagrangian", "--peaks", "2",
                            "--points", "10,20;30,40", "--alpha", "5", "--band", "100Hz:150Hz", "--max-clip-frames", "32"]) == 0
    printed = capsys.readouterr().out
    assert "dominant peak 125 Hz" in printed and f"wrote {out}" in printed
    data = json.loads(out.with_suffix(".json").read_text())
    assert [p["point_yx"] for p in data["points"]] == [[10.0, 20.0], [30.0, 40.0]]
    assert data["band_hz"] == [100.0, 150.0] and data["settings"]["alpha"] == 5.0 and len(data["peaks"]) == 2
    assert data["clip"]["label"] == "lagrangian x5, 100 - 150 Hz" and data["clip"]["frames"] == 32
    assert cli_main(["report", str(recording), "-o", str(out), "--method", "lagrangian"]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err


def test_refusals(tmp_path):
    ds = plate()
    with pytest.raises(ReportError, match="outside"):
        vibmag.report(ds, tmp_path / "r.html", points=[(100, 5)], progress=False)
    theirs = tmp_path / "theirs.html"
    theirs.write_text("<html>someone's page</html>")
    with pytest.raises(OverwriteError, match="not a report vibmag wrote"):
        vibmag.report(ds, theirs, overwrite=True, progress=False)
    with pytest.raises(vibmag.VibmagError, match="HTML"):
        vibmag.report(ds, tmp_path / "r.pdf", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.html"]
    short = vibmag.report(ds, tmp_path / "short.html", method="lagrangian", n_peaks=1, max_clip_frames=8, progress=False)
    assert "error" in short.data["clip"] and "No clip could be made" in short.path.read_text()  # the rest is there


def test_vibmag_report_is_the_function_whatever_was_imported():
    import vibmag.reporting  # noqa: F401

    assert callable(vibmag.report) and vibmag.report is vibmag.reporting.report


def test_the_index_lists_reports_with_peaks_and_status(beams, tmp_path):
    _, done = beams
    index = write_index([IndexEntry("beams", "complete", done.path, done.dominant_peak["frequency_hz"], 0.05, "ok"),
                         IndexEntry("broken <1>", "failed", None, None, None, "RecordingError: bad")], tmp_path / "index.html")
    root = parse(index)
    rows = [tr for tr in root.iter("tr") if tr.get("data-status")]
    assert [tr.get("data-status") for tr in rows] == ["complete", "failed"]
    link = next(rows[0].iter("a")).get("href")
    assert (tmp_path / link).resolve() == done.path.resolve()
    shown = f"{done.dominant_peak['frequency_hz']:.4g}"  # the report's own peak, to 4 significant digits
    assert 17.0 < float(shown) < 17.4  # the beams' bending mode (about 17.2 Hz)
    assert shown in "".join(rows[0].itertext()) and "broken <1>" in "".join(rows[1].itertext())


# ---------------------------------------------------------------- plot polish (vibmag.viz, used by report and demo)


def _beam_like_spectrum():
    t = np.arange(75) / 150.0
    x = sum(a * np.sin(2 * np.pi * f * t) for f, a in ((12.88, 0.05), (17.18, 0.05), (29.06, 0.07), (1.333, 0.18)))
    return spectrum(xr.DataArray(x, dims="time", coords={"time": t}, attrs={"units": "px"}))


def test_peak_labels_do_not_overlap_and_the_band_is_shaded():
    spec = _beam_like_spectrum()
    peaks = find_peaks(spec, n=5)
    fig = Figure(figsize=(9, 3), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    drawn = plot_spectrum(spec, ax=ax, peaks=peaks, band=(12.8831, 21.4718))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in drawn["labels"]]
    assert len(boxes) == peaks.sizes["peak"]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), "peak labels overlap"
        assert ax.bbox.y1 >= a.y1 - 1  # inside the axes
    assert drawn["band"] is not None and drawn["band"].get_label() == "band 12.88 - 21.47 Hz"
    corners = drawn["band"].get_patch_transform().transform([(0, 0), (1, 1)])  # the span in data x
    assert tuple(corners[:, 0]) == pytest.approx((12.8831, 21.4718))


def test_the_demo_title_prints_the_band_with_four_digits(tmp_path, monkeypatch):
    from vibmag import demo

    seen = {}
    monkeypatch.setattr(demo, "plot_survey", lambda summary, path, *, title, band: seen.update(title=title, band=band))
    monkeypatch.setattr(demo, "write_magnified_clip", lambda *a, **k: None)
    monkeypatch.setattr(demo, "survey", lambda ds, progress: "summary")
    monkeypatch.setattr(demo, "dominant_band", lambda summary: ("12.8831 Hz", "21.4718 Hz"))
    table = xr.Dataset({"frequency": ("peak", [17.18]), "amplitude": (("peak", "component"), [[0.05, 0.05]])})
    monkeypatch.setattr(demo, "peak_table", lambda summary: table)
    demo.run_demo(tmp_path / "demo")
    assert seen["title"].endswith("(band magnified: 12.88 - 21.47 Hz)")
    assert [e if isinstance(e, float) else frequency_hz(e) for e in seen["band"]] == pytest.approx([12.8831, 21.4718])  # shaded


def test_batch_reports_one_page_per_recording_and_an_index(tmp_path):
    from vibmag.batch import Outcome, parse_settings
    from vibmag.batch.reports import write_reports
    from vibmag.cli import build_parser

    recording = tmp_path / "plate one.h5"
    vibmag.save(plate().drop_vars("true_displacement"), recording)
    settings = parse_settings({"analysis": {"n_peaks": 2}, "magnify": {"method": "lagrangian", "alpha": 4, "max_frames": 32}})
    outcomes = [Outcome("plate one", "complete", str(recording), "", 1.0, "top peak 125 Hz"),
                Outcome("gone", "failed", str(tmp_path / "gone.h5"), "", None, "RecordingError: no such file")]
    index = write_reports(outcomes, tmp_path / "reports", settings)
    assert index == tmp_path / "reports" / "index.html"
    page = tmp_path / "reports" / "plate_one.html"
    data = json.loads(page.with_suffix(".json").read_text())
    assert data["settings"]["method"] == "lagrangian" and data["settings"]["alpha"] == 4.0 and len(data["peaks"]) == 2
    assert data["clip"]["frames"] == 32
    rows = [tr for tr in parse(index).iter("tr") if tr.get("data-status")]
    assert [tr.get("data-status") for tr in rows] == ["complete", "failed"]
    cells = [td.text for td in rows[0].iter("td")]
    assert float(cells[2]) == pytest.approx(data["dominant_peak"]["frequency_hz"], abs=0.01)
    assert next(rows[0].iter("a")).get("href") == "plate_one.html" and not list(rows[1].iter("a"))
    assert "no such file" in "".join(rows[1].itertext())
    args = build_parser().parse_args(["batch", "a.h5", "-o", "r.h5", "--report", "out"])
    assert args.report == "out"
