"""The plugin's Qt-free parts: reader, writers, sample data, layers <-> recordings, regions, computations.

No viewer here: napari layer models work without Qt. Results are checked
against ground truth (synthetic modes, vibmag's own functions on the same data).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from napari.layers import Image, Labels, Layer, Shapes

import vibmag
from vibmag import sample_data
from vibmag.errors import CancelledError
from vibmag.napari import _compute
from vibmag.napari._layers import (METADATA_KEY, layer_data_tuple, recording_from_layer, recording_from_layer_data,
                                   result_layer_kwargs)
from vibmag.napari._reader import SUFFIXES, get_reader, read_recording
from vibmag.napari._regions import bounding_box, region_from_layer
from vibmag.napari._sample_data import PLATE_MODES, beams, vibrating_plate
from vibmag.napari._writer import write_hdf5, write_side_by_side, write_video



def _layer(ds, name="rec"):
    return Layer.create(*layer_data_tuple(ds, name))


def _state(layer):
    """What napari hands a writer: the layer's state without its data."""
    return {k: v for k, v in layer._get_state().items() if k != "data"}


# --- reader --------------------------------------------------------------------------------------


def test_reader_declines_what_it_does_not_own_without_raising(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a recording")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["frames"] = np.zeros((3, 4, 4), np.uint8)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x00garbage")
    assert get_reader(str(text)) is None
    assert get_reader(text) is None
    assert get_reader([str(text)]) is None
    assert get_reader(str(foreign)) is None  # HDF5 vibmag did not write: not ours
    assert get_reader(str(broken)) is None
    assert get_reader(str(tmp_path / "missing.cih")) is None
    assert get_reader(str(tmp_path)) is None  # folders
    assert get_reader([str(text), str(text)]) is None
    assert get_reader(None) is None
    assert get_reader(42) is None


def test_reader_opens_photron_with_time_in_seconds_and_metadata(photron_writer):
    counts = np.arange(6 * 8 * 10, dtype=np.uint16).reshape(6, 8, 10) % 4096
    path = photron_writer(counts, bits=12, record_rate=2000.0)
    for claimed in (path, path.with_suffix(".mraw")):
        reader = get_reader(str(claimed))
        assert reader is read_recording
        [(data, kwargs, kind)] = reader(str(claimed))
        assert kind == "image"
        np.testing.assert_allclose(np.asarray(data), counts / 4095.0, rtol=1e-6)
        assert kwargs["scale"] == pytest.approx((1 / 2000.0, 1.0, 1.0))
        assert kwargs["units"] == ("s", "px", "px")
        assert kwargs["axis_labels"] == ("time", "y", "x")
        assert kwargs["metadata"][METADATA_KEY]["frame_rate"] == "2000 Hz"
        assert kwargs["metadata"][METADATA_KEY]["format"] == "photron-mraw"


def test_reader_keeps_large_photron_files_lazy():
    [(data, kwargs, _)] = read_recording(sample_data.path("showcase_beams"))
    assert type(data).__module__.startswith("dask")
    assert data.shape == (75, 40, 640)
    assert kwargs["scale"][0] == pytest.approx(1 / 150.0)


def test_corrupt_file_of_an_owned_kind_fails_with_the_reason(tmp_path):
    bad = tmp_path / "bad.cih"
    bad.write_text("not a header")
    bad.with_suffix(".mraw").write_bytes(b"\x00" * 100)
    reader = get_reader(str(bad))
    assert reader is read_recording
    with pytest.raises(vibmag.VibmagError, match="bad.cih"):
        reader(str(bad))


def test_hdf5_writer_round_trips_through_the_reader(clip, tmp_path):
    ds = clip.assign_attrs(pixel_size="0.05 mm", band=["40 Hz", "60 Hz"], alpha=4.0)
    layer = _layer(ds)
    assert layer.scale == pytest.approx((1 / 400.0, 0.05, 0.05))
    assert [str(u) for u in layer.units] == ["second", "millimeter", "millimeter"]
    path = tmp_path / "result.h5"
    assert write_hdf5(str(path), layer.data, _state(layer)) == [str(path)]
    reader = get_reader(str(path))
    assert reader is read_recording
    [(data, kwargs, _)] = reader(str(path))
    np.testing.assert_array_equal(np.asarray(data), clip["frames"].values)
    assert kwargs["scale"] == pytest.approx((1 / 400.0, 0.05, 0.05))
    assert kwargs["units"] == ("s", "mm", "mm")
    meta = kwargs["metadata"][METADATA_KEY]
    assert (meta["frame_rate"], meta["pixel_size"], meta["band"], meta["alpha"]) == ("400 Hz", "0.05 mm", ["40 Hz", "60 Hz"], 4.0)


def test_video_writers(clip, tmp_path):
    layer = _layer(clip)
    mp4 = tmp_path / "clip.mp4"
    write_video(str(mp4), layer.data, _state(layer))
    reopened = vibmag.open_recording(mp4, frame_rate="400 Hz")
    assert dict(reopened.sizes) == {"time": 32, "y": 64, "x": 64}
    assert np.abs(reopened["frames"].values - clip["frames"].values).mean() < 0.02
    [(_, kwargs, _)] = get_reader(str(mp4))(str(mp4))
    assert kwargs["metadata"][METADATA_KEY]["frame_rate_source"].startswith("container")
    both = tmp_path / "both.mp4"
    write_side_by_side(str(both), [(layer.data, _state(layer), "image"), (layer.data, _state(layer), "image")])
    assert vibmag.open_recording(both, frame_rate="400 Hz").sizes["x"] > 2 * 64


# --- layers <-> recordings -----------------------------------------------------------------------


def test_layer_round_trip_and_the_time_scale_is_the_truth(clip):
    layer = _layer(clip.assign_attrs(pixel_size="0.1 mm"))
    ds = recording_from_layer(layer)
    assert (ds.attrs["frame_rate"], ds.attrs["pixel_size"]) == ("400 Hz", "0.1 mm")
    np.testing.assert_array_equal(ds["frames"].values, clip["frames"].values)
    layer.scale = (1 / 15000, 0.1, 0.1)  # the user corrects the capture rate
    assert recording_from_layer(layer).attrs["frame_rate"] == "15000 Hz"


def test_layers_from_other_readers(clip):
    counts = (clip["frames"].values * 255).astype(np.uint8)
    plain = Image(counts)  # no time unit, no metadata
    with pytest.raises(ValueError, match="time"):
        recording_from_layer(plain)
    timed = Image(counts, scale=(2.0, 1, 1), units=("ms", "px", "px"))
    ds = recording_from_layer(timed)
    assert ds.attrs["frame_rate"] == "500 Hz" and "pixel_size" not in ds.attrs
    np.testing.assert_allclose(ds["frames"].values, counts / 255.0)
    with pytest.raises(ValueError, match="time axis"):
        recording_from_layer(Image(counts[0]))


def test_result_layer_lies_beside_or_over_its_source(clip, clip_layer):
    result = clip.assign_attrs(alpha=5.0, alpha_max=5.0, band=["40 Hz", "60 Hz"], method="lagrangian")
    beside = result_layer_kwargs(clip_layer, result, placement="side by side")
    over = result_layer_kwargs(clip_layer, result, placement="overlay")
    assert beside["scale"] == over["scale"] == tuple(clip_layer.scale)
    assert beside["translate"][2] == pytest.approx(64 + 3)  # frame width + gap, px
    assert over["translate"] == pytest.approx(tuple(clip_layer.translate))
    assert beside["metadata"][METADATA_KEY]["method"] == "lagrangian"
    assert "x5.0 40 Hz-60 Hz" in beside["name"]


# --- regions -------------------------------------------------------------------------------------


def test_rectangle_selects_the_same_pixels_as_the_box(clip, clip_layer, centre_box):
    shapes = Shapes([centre_box], shape_type="rectangle")
    mask = region_from_layer(shapes, clip_layer, clip)
    np.testing.assert_array_equal(mask, vibmag.region_mask(clip, (16, 16, 48, 48)).values > 0.5)
    assert bounding_box(mask) == (16, 16, 48, 48)
    assert region_from_layer(None, clip_layer, clip) is None


def test_shapes_are_mapped_through_world_coordinates(clip, centre_box):
    image = Layer.create(*layer_data_tuple(clip.assign_attrs(pixel_size="0.1 mm"), "rec"))
    image.translate = (0, 5.0, -2.0)
    world = centre_box * 0.1 + np.array([5.0, -2.0])  # the same rectangle drawn in world units (mm)
    shapes = Shapes([world], shape_type="rectangle")
    np.testing.assert_array_equal(region_from_layer(shapes, image, clip), vibmag.region_mask(clip, (16, 16, 48, 48)).values > 0.5)


def test_selected_shapes_ellipses_and_lines(clip, clip_layer, centre_box):
    ellipse = np.array([[12.0, 12.0], [12.0, 52.0], [52.0, 52.0], [52.0, 12.0]])  # circle of radius 20 at (32, 32)
    shapes = Shapes([centre_box - 10, ellipse, np.array([[0.0, 0.0], [60.0, 60.0]])],
                    shape_type=["rectangle", "ellipse", "line"])
    everything = region_from_layer(shapes, clip_layer, clip)
    shapes.selected_data = {1}
    circle = region_from_layer(shapes, clip_layer, clip)
    assert circle.sum() == pytest.approx(np.pi * 20**2, rel=0.03)
    assert everything.sum() > circle.sum()
    shapes.selected_data = {2}
    with pytest.raises(ValueError, match="rectangle, polygon or ellipse"):
        region_from_layer(shapes, clip_layer, clip)


def test_labels_regions(clip, clip_layer):
    painted = np.zeros((64, 64), np.int32)
    painted[10:20, 30:40] = 3
    np.testing.assert_array_equal(region_from_layer(Labels(painted, scale=clip_layer.scale[1:]), clip_layer, clip), painted > 0)
    over_time = np.zeros((32, 64, 64), np.int32)
    over_time[5, 1:4, 2:6] = 1
    mask = region_from_layer(Labels(over_time, scale=clip_layer.scale), clip_layer, clip)
    np.testing.assert_array_equal(mask, over_time.any(axis=0))
    with pytest.raises(ValueError, match="grid"):
        region_from_layer(Labels(np.ones((32, 32), np.int32)), clip_layer, clip)
    with pytest.raises(ValueError, match="empty"):
        region_from_layer(Labels(np.zeros((64, 64), np.int32)), clip_layer, clip)


# --- computations --------------------------------------------------------------------------------


def test_measure_displacement_is_estimate_displacement_with_progress_and_cancel(clip):
    short = clip.isel(time=slice(0, 12))
    reports = []
    disp = _compute.measure_displacement(short, chunk_frames=5, progress=lambda done, total: reports.append((done, total)))
    expected = vibmag.estimate_displacement(short, progress=False)
    np.testing.assert_allclose(disp.values, expected.values, atol=1e-6)
    np.testing.assert_array_equal(disp["time"].values, short["time"].values)
    assert reports == [(5, 12), (10, 12), (12, 12)]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        _compute.measure_displacement(short, cancel=cancel)


_SPILL_PROBE = r"""
import numpy as np, tempfile, vibmag, vibmag.pipeline
from pathlib import Path
from vibmag.napari import _compute
from vibmag.synthetic import Mode, vibrating_plate
ds = vibrating_plate((32, 32), n_frames=12, frame_rate="400 Hz", modes=[Mode("50 Hz", 0.2)], seed=1)
expected = vibmag.magnify(ds, 5.0, method="lagrangian")["frames"].values
vibmag.pipeline.MEMORY_RESULT_BYTES = 0  # every result spills to a file
result = _compute.magnify_recording(ds, 5.0, method="lagrangian")
spilled = sorted((Path(tempfile.gettempdir()) / "vibmag-napari").iterdir())
assert len(spilled) == 1, spilled
np.testing.assert_allclose(result["frames"].values, expected, atol=1e-6)
print(spilled[0])
"""


def test_spilled_results_equal_in_memory_ones_and_are_deleted_at_exit(tmp_path):
    done = subprocess.run([sys.executable, "-c", _SPILL_PROBE], env={**os.environ, "TMPDIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    spilled = Path(done.stdout.strip().splitlines()[-1])
    assert spilled.parent == tmp_path / "vibmag-napari" and spilled.suffix == ".h5"
    assert not spilled.exists()


def test_suggested_bands_hold_the_region_mode(clip, mode):
    hz, amplitude = mode
    mask = vibmag.region_mask(clip, (16, 16, 48, 48)).values > 0.5
    suggestions = _compute.suggest_bands(clip, mask)
    best = suggestions[0]
    assert best.frequency == pytest.approx(hz, abs=1.0)
    assert best.amplitude == pytest.approx(amplitude, rel=0.15)
    assert best.low < hz < best.high
    assert best.label.startswith(f"{best.frequency:.4g} Hz (0.15 px): ")


def test_inspect_and_deflection_shape_match_the_mode(clip, mode):
    hz, amplitude = mode
    disp = _compute.measure_displacement(clip.assign_attrs(pixel_size="0.1 mm"))
    at_point = _compute.inspect(disp, point=(32, 30))
    assert float(at_point.peaks["frequency"][0]) == pytest.approx(hz, abs=1.0)
    assert float(at_point.peaks["amplitude"].sel(component="y")[0]) == pytest.approx(amplitude, rel=0.1)
    in_mm = _compute.inspect(disp, point=(32, 30), units="mm")
    assert in_mm.spectrum.attrs["units"] == "mm"
    np.testing.assert_allclose(in_mm.spectrum.values, 0.1 * at_point.spectrum.values)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    over_region = _compute.inspect(disp, region=mask)
    assert float(over_region.peaks["frequency"][0]) == pytest.approx(hz, abs=1.0)
    assert over_region.waveform.dims == ("time", "component")

    shape = _compute.deflection_layers(disp, float(at_point.peaks["frequency"][0]), reference=(32, 30))
    assert shape["component"] == "y"
    centre = shape["magnitude"][16:48, 16:48]
    assert np.median(centre) == pytest.approx(amplitude, rel=0.1)
    assert np.nanmax(np.abs(shape["phase"][16:48, 16:48])) < 10.0  # a rigid mode moves in phase everywhere
    vectors = shape["vectors"]
    assert vectors.shape[1:] == (2, 2)
    inner = (vectors[:, 0, 0] > 8) & (vectors[:, 0, 0] < 56) & (vectors[:, 0, 1] > 8) & (vectors[:, 0, 1] < 56)
    assert np.median(np.abs(vectors[inner, 1, 0])) == pytest.approx(amplitude, rel=0.1)  # dy
    assert np.median(np.abs(vectors[inner, 1, 1])) < 0.02  # dx


# --- sample data and manifest --------------------------------------------------------------------


def test_sample_data():
    [(data, kwargs, kind)] = vibrating_plate()
    assert kind == "image" and data.shape == (64, 96, 128)
    assert kwargs["scale"] == pytest.approx((1 / 500.0, 0.1, 0.1))
    assert kwargs["units"] == ("s", "mm", "mm")
    scene = vibmag.synthetic.scene_from_json(kwargs["metadata"][METADATA_KEY]["scene"])
    assert [mode.frequency for mode in scene.modes] == [f for f, *_ in PLATE_MODES]
    [(data, kwargs, _)] = beams()
    assert data.shape == (75, 40, 640) and kwargs["name"] == "beams (Photron)"


def test_manifest_lists_every_contribution_and_is_found_by_npe2():
    import npe2
    from npe2.manifest.utils import import_python_name

    manifest = npe2.PluginManifest.from_distribution("vibmag")
    contributions = manifest.contributions
    assert {w.display_name for w in contributions.widgets} == {"Magnify", "Inspect"}
    assert {s.key for s in contributions.sample_data} == {"plate", "beams"}
    assert {p.lstrip("*") for p in contributions.readers[0].filename_patterns} == set(SUFFIXES)
    assert {tuple(w.filename_extensions) for w in contributions.writers} == {(".h5", ".hdf5"), (".mp4", ".gif")}
    for command in contributions.commands:
        # every command names a Python callable (command.exec is a bound method: callable whatever the manifest says)
        assert command.python_name, f"{command.id} has no python_name"
        assert callable(import_python_name(command.python_name)), f"{command.python_name} is not callable"
        module, _, name = command.python_name.partition(":")
        assert hasattr(__import__(module, fromlist=[name]), name)


def test_plugin_discovery_sets_vibmag_unit_registry_before_any_layer():
    code = (
        "import sys, npe2, pint\n"
        "npe2.PluginManager.instance().discover()\n"
        "assert 'vibmag.napari' in sys.modules, 'discovery did not import vibmag.napari'\n"
        "from vibmag.units import ureg\n"
        "assert pint.get_application_registry().get() is ureg\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
