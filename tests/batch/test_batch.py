"""vibmag.batch on a LocalCluster of 2 worker processes (real Dask, no mocks).

A batch gives each recording exactly its results alone; a worker killed mid-run changes
nothing; a killed client resumes without recomputing or corrupting; bad inputs are
reported per recording; docs/batch.md's walkthrough runs as written.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

import vibmag
from vibmag import batch
from vibmag.batch import read_results_table
from vibmag.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "batch.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks(kind: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text()) if lang == kind]


SETTINGS_TOML = """
[input]
dataset = "/cam0/frames"

[analysis]
n_peaks = 3
deflection_shapes = true

[analysis.regions]
frame = "all"
left = [0, 0, 48, 24]

[output]
plots = true

[parallel]
tile_above_mb = 1.5
tile_size = 32
tile_margin = 16
"""


def assert_same_result(stored: xr.Dataset, alone: xr.Dataset) -> None:
    """Identical values, coords and attrs, except the run's own attrs (run_id, times)."""
    keep = {k: v for k, v in alone.attrs.items() if not k.startswith("run_")}
    assert {k: v for k, v in stored.attrs.items() if not k.startswith("run_")} == keep
    xr.testing.assert_identical(stored.assign_attrs(keep).drop_attrs(deep=False), alone.assign_attrs(keep).drop_attrs(deep=False))
    for name in alone.variables:
        np.testing.assert_array_equal(stored[name].values, alone[name].values, strict=True)


def test_batch_gives_each_recording_its_results_alone(plate_folder, references, cluster, tmp_path, plates, batch_settings):
    PLATES, SETTINGS = plates, batch_settings
    out = tmp_path / "results.h5"
    report = batch.run([plate_folder], out, settings=SETTINGS, scheduler=cluster, progress=False)

    assert report.ok and report.exit_code == 0
    assert [o.recording for o in report.outcomes] == sorted(PLATES)
    assert {o.status for o in report.outcomes} == {"complete"}
    for name, (hz, _, _, _) in PLATES.items():
        stored = vibmag.load(out, group=name)
        assert_same_result(stored, references[name].dataset)
        # ground truth: the plate's mode is the top peak of both regions, and it moves along y
        np.testing.assert_allclose(stored["peak_frequency"].isel(peak=0), hz, atol=0.05)
        amplitude = stored["peak_amplitude"].isel(peak=0)
        assert (amplitude.sel(component="y") > 20 * amplitude.sel(component="x")).all()
        assert stored.attrs["tiles"] == (4 if name == "big" else 1)
        assert (out.parent / "results_files" / f"{name}_spectrum.png").read_bytes()[:4] == b"\x89PNG"
    # plain h5py reads the same layout, provenance included
    with h5py.File(out, "r") as f:
        assert sorted(f) == sorted(PLATES)
        group = f["p45"]
        assert group.attrs["status"] == "complete" and group.attrs["dataset"] == "/cam0/frames"
        assert group.attrs["source"] == str(plate_folder / "p45.h5") and group.attrs["vibmag_version"] == vibmag.__version__
        assert group["spectrum"].shape == (2, 33, 2) and group["deflection_shape"].dtype == np.complex128
    assert batch.parse_settings(vibmag.load(out, group="p30").attrs["settings"]) == batch.parse_settings(SETTINGS)
    assert "p70 complete" in report.log_file.read_text()


def test_tiled_recording_matches_the_untiled_measurement(references, plate_folder, batch_settings):
    """Tiles measured with a margin of context give what the whole frame gives, within 1 % of the motion."""
    whole = batch.process_recording(plate_folder / "big.h5", settings={**batch_settings, "parallel": {"tile_above_mb": 100}}).dataset
    tiled = references["big"].dataset
    assert whole.attrs["tiles"] == 1 and tiled.attrs["tiles"] == 4
    peak = 0.4  # px, the mode's amplitude
    np.testing.assert_allclose(tiled["rms"], whole["rms"], atol=0.01 * peak)
    np.testing.assert_allclose(tiled["spectrum"], whole["spectrum"], atol=0.001 * peak)
    np.testing.assert_allclose(tiled["peak_frequency"], whole["peak_frequency"], atol=1e-3)
    shapes = [np.abs(r["deflection_shape"].isel(region=0, peak=0).sel(component="y")) for r in (tiled, whole)]
    np.testing.assert_allclose(*shapes, atol=0.01 * peak)


def test_tiled_peaks_state_the_measurements_uncertainty_against_the_exact_displacement(true_displacement, plate_folder, batch_settings):
    """A tiled peak amplitude within 3 sigma of the exact displacement's, away from the frame's border; noise as untiled.

    Within a window's reach of the frame's border the displacement carries an
    error its parts do not state (docs/flow.md, Uncertainty), so the region
    here keeps 12 px off it; the tiles' seams cross it.
    """
    from vibmag.analysis import find_peaks, spectrum

    regions = {"centre": [12, 12, 52, 52]}
    settings = {**batch_settings, "analysis": {**batch_settings["analysis"], "regions": regions}}
    tiled = batch.process_recording(plate_folder / "big.h5", settings=settings).dataset
    assert tiled.attrs["tiles"] == 4
    exact = true_displacement("big")
    for name, box in regions.items():
        truth = find_peaks(spectrum(exact, region=box), n=1)["amplitude"].sel(component="y").values[0]
        measured = tiled.sel(region=name, component="y").isel(peak=0)
        assert abs(float(measured["peak_amplitude"]) - truth) <= 3 * float(measured["peak_amplitude_sigma"])
        assert 0 < float(measured["peak_amplitude_systematic"]) < float(measured["peak_amplitude_sigma"])
        assert float(measured["peak_snr"]) > 100
    whole = batch.process_recording(plate_folder / "big.h5", settings={**settings, "parallel": {"tile_above_mb": 100}}).dataset
    assert whole.attrs["tiles"] == 1
    np.testing.assert_allclose(tiled["noise"], whole["noise"], rtol=0.05)
    inner = dict(y=slice(12, 52), x=slice(12, 52))
    np.testing.assert_allclose(tiled["deflection_shape_sigma"].isel(**inner), whole["deflection_shape_sigma"].isel(**inner), rtol=0.25)
    # the mode stands clear of its noise along y wherever it moves more than a hundredth of its amplitude
    shape = abs(tiled["deflection_shape"].sel(region="centre", component="y").isel(peak=0))
    moving = shape > 0.004
    assert int((shape > 2 * tiled["deflection_shape_sigma"].sel(component="y")).where(moving, False).sum()) == int(moving.sum())


def test_a_worker_killed_mid_run_does_not_change_the_results(plate_folder, references, cluster, tmp_path, plates, batch_settings):
    PLATES, SETTINGS = plates, batch_settings
    from distributed import Client

    out = tmp_path / "results.h5"
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(report=batch.run([plate_folder], out, settings=SETTINGS, scheduler=cluster, progress=False)))
    with Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        runner.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and runner.is_alive():
            busy = {worker: keys for worker, keys in client.processing().items() if any(k.startswith(("displacement", "shapes")) for k in keys)}
            victim = next(iter(busy), None)
            time.sleep(0.01)
        assert victim is not None, "no recording task was seen running"
        os.kill(pids[victim], signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive()
        client.wait_for_workers(2, timeout=60)
        assert pids[victim] not in client.run(os.getpid).values()

    report = outcome["report"]
    assert report.ok, report.table()
    for name in PLATES:
        assert_same_result(vibmag.load(out, group=name), references[name].dataset)


def test_bad_inputs_are_reported_per_recording(plate_folder, references, cluster, tmp_path, plates, batch_settings):
    PLATES, SETTINGS = plates, batch_settings
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("p30", "p45"):
        shutil.copy2(plate_folder / f"{name}.h5", folder)
    (folder / "corrupt.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)  # HDF5 signature, garbage after
    with h5py.File(folder / "other.h5", "w") as f:
        f.create_dataset("cam0/images", data=np.zeros((8, 4, 4), np.uint8)).attrs["frame_rate"] = 100.0
    with h5py.File(folder / "norate.h5", "w") as f:
        f.create_dataset("cam0/frames", data=np.zeros((8, 4, 4), np.uint8))
    out = tmp_path / "results.h5"

    report = batch.run([folder / "*.h5"], out, settings={**SETTINGS, "parallel": {"retries": 0}}, scheduler=cluster, progress=False)

    assert report.exit_code == 1 and not report.ok
    assert report.counts == {"complete": 2, "skipped": 0, "failed": 3, "stale": 0}
    assert "corrupt.h5: cannot read the HDF5 file" in report["corrupt"].message
    assert "no dataset matches '/cam0/frames' (candidates: /cam0/images)" in report["other"].message
    assert "no frame-rate attribute" in report["norate"].message
    table = report.table()
    assert re.search(r"^corrupt +failed +RecordingError", table, re.M) and "3 failed" in table
    for name in ("corrupt", "other", "norate"):
        failed = vibmag.load(out, group=name)
        assert failed.attrs["status"] == "failed" and failed.attrs["error"] == report[name].message
        assert not failed.data_vars
    for name in ("p30", "p45"):  # copies, under other settings (retries): the same values
        xr.testing.assert_identical(vibmag.load(out, group=name).drop_attrs(), references[name].dataset.drop_attrs())

    # the failures are retried on the next run, the complete ones skipped
    shutil.copy2(plate_folder / "p70.h5", folder / "corrupt.h5")
    again = batch.run([folder / "*.h5"], out, settings={**SETTINGS, "parallel": {"retries": 0}}, scheduler=cluster, progress=False)
    assert [(o.recording, o.status) for o in again.outcomes] == [
        ("corrupt", "complete"), ("norate", "failed"), ("other", "failed"), ("p30", "skipped"), ("p45", "skipped")]
    np.testing.assert_allclose(vibmag.load(out, group="corrupt")["peak_frequency"].isel(peak=0), PLATES["p70"][0], atol=0.05)


def test_changed_settings_leave_complete_results_stale_unless_overwritten(plate_folder, cluster, tmp_path):
    out = tmp_path / "results.h5"
    first = batch.run([plate_folder / "p30.h5"], out, settings={"analysis": {"n_peaks": 2}}, scheduler=cluster, progress=False)
    assert first.ok
    stale = batch.run([plate_folder / "p30.h5"], out, settings={"analysis": {"n_peaks": 3}}, scheduler=cluster, progress=False)
    assert stale["p30"].status == "stale" and stale.exit_code == 1 and "other settings" in stale["p30"].message
    assert vibmag.load(out, group="p30").sizes["peak"] == 2
    redone = batch.run([plate_folder / "p30.h5"], out, settings={"analysis": {"n_peaks": 3}}, scheduler=cluster, progress=False, overwrite=True)
    assert redone["p30"].status == "complete" and vibmag.load(out, group="p30").sizes["peak"] == 3


def assert_same_values(stored: xr.Dataset, alone: xr.Dataset) -> None:
    """The same variables and coordinates, value for value (provenance may differ: another file)."""
    xr.testing.assert_identical(stored.drop_attrs(), alone.drop_attrs())


def test_a_killed_client_resumes_without_recomputing_or_corrupting(plate_folder, plates, references, cluster, tmp_path, capsys, root_logging):
    folder = tmp_path / "inputs"
    folder.mkdir()
    copies = {"big": "big", "p30": "p30", "p45": "p45", "p70": "p70", "q30": "p30", "q45": "p45"}  # name -> original
    for name, original in copies.items():
        shutil.copy2(plate_folder / f"{original}.h5", folder / f"{name}.h5")
    (tmp_path / "batch.toml").write_text(SETTINGS_TOML.replace("plots = true", "plots = false"))
    out = tmp_path / "results.h5"
    args = ["batch", str(folder), "-o", str(out), "--settings", str(tmp_path / "batch.toml"), "--no-progress"]

    # the first run uses the running cluster; its client is killed once a recording is complete
    client = subprocess.Popen([sys.executable, "-m", "vibmag.cli", *args, "--scheduler", cluster], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        done = []
        while not done and time.monotonic() < deadline and client.poll() is None:
            time.sleep(0.05)
            if out.exists():
                done = [row for row in read_results_table(out) if row["status"] == "complete"]
        os.kill(client.pid, signal.SIGKILL)
    finally:
        client.wait()
    assert 1 <= len(done) < len(copies), "the client was not killed mid-run"

    # the results file holds only complete groups, each what the recording gives alone
    before = {row["recording"]: row for row in read_results_table(out)}
    assert set(before) >= {row["recording"] for row in done} and {row["status"] for row in before.values()} == {"complete"}
    run_ids = {}
    for name in before:
        stored = vibmag.load(out, group=name)
        assert_same_values(stored, references[copies[name]].dataset)
        run_ids[name] = stored.attrs["run_id"]

    # the second starts its own LocalCluster, skips what is complete and computes the rest
    assert main([*args, "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    after = {row["recording"]: row for row in read_results_table(out)}
    assert sorted(after) == sorted(copies) and {row["status"] for row in after.values()} == {"complete"}
    for name, original in copies.items():
        stored = vibmag.load(out, group=name)
        assert_same_values(stored, references[original].dataset)
        np.testing.assert_allclose(stored["peak_frequency"].isel(peak=0), plates[original][0], atol=0.05)
        if name in before:  # skipped, not recomputed: still the first run's group
            assert re.search(rf"^{name} +skipped", printed, re.M)
            assert vibmag.load(out, group=name).attrs["run_id"] == run_ids[name]
        else:
            assert re.search(rf"^{name} +complete", printed, re.M)
    assert f"{len(copies)} recordings: {len(copies) - len(before)} complete, {len(before)} skipped" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.toml", "inputs", "results.h5", "results.log"]
    log = (tmp_path / "results.log").read_text()
    assert "connected to the scheduler" in log and "started a LocalCluster of 1 worker processes" in log


def test_the_walkthrough_runs_as_written(cluster, tmp_path, monkeypatch, capsys, root_logging):
    monkeypatch.chdir(tmp_path)
    make, read = blocks("python")[0], blocks("python")[1]
    exec(compile(make, "docs/batch.md (recordings)", "exec"), {})
    Path("batch.toml").write_text(blocks("toml")[0])
    command = shlex.split(next(b for b in blocks("bash") if b.startswith("vibmag batch")))
    assert command[-2:] == ["--workers", "2"]
    # the documented command, on the test's cluster instead of a new local one
    assert main([*command[1:-2], "--scheduler", cluster, "--no-progress"]) == 1
    printed = capsys.readouterr().out
    documented = blocks("text")[0]
    statuses = re.compile(r"^(\S+) +(complete|failed|skipped)\b", re.M)
    assert statuses.findall(printed) == statuses.findall(documented)
    assert printed.splitlines()[-1].startswith(documented.splitlines()[-1].split(" in ")[0])

    test = doctest.DocTestParser().get_doctest(read, {}, "docs/batch.md (results)", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False) == doctest.TestResults(failed=0, attempted=len(test.examples))
    assert sorted(p.name for p in Path("results_files").iterdir())[:2] == ["fan.cam0.frames_magnified.mp4", "fan.cam0.frames_spectrum.png"]
