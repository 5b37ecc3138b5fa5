"""vibmag.batch.run on a LocalCluster of 2 worker processes: same results as alone, worker deaths, bad inputs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time

import h5py
import numpy as np
import pytest
import xarray as xr

import vibmag
from vibmag import batch


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
    for name in ("p30", "p45"):
        assert_same_result(vibmag.load(out, group=name), references[name].dataset)

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
