"""The plugin in a real napari viewer (under Xvfb): reader, sample, and both widgets against ground truth.

The widgets are opened through the plugin's manifest
(``add_plugin_dock_widget``), driven through their own buttons, and waited
for while their thread workers run.
"""

from __future__ import annotations

import numpy as np
import pytest

import vibmag
from vibmag import sample_data
from vibmag.magnification.alpha import DEFAULT_TRANSITION, alpha_grid, with_region
from vibmag.napari._layers import METADATA_KEY, layer_data_tuple
from vibmag.napari._regions import region_from_layer
from vibmag.synthetic import render_magnified

WORK_TIMEOUT_MS = 120_000


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def clip_in_viewer(viewer, clip):
    """The clip as a layer of the viewer, and a Shapes layer with the rectangle (16, 16)-(48, 48) over it."""
    data, kwargs, _ = layer_data_tuple(clip, "clip")
    image = viewer.add_image(data, **kwargs)
    box = np.array([[16.0, 16.0], [16.0, 48.0], [48.0, 48.0], [48.0, 16.0]])
    shapes = viewer.add_shapes([box], shape_type="rectangle", name="region")
    return image, shapes


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.task.busy, timeout=WORK_TIMEOUT_MS)
    assert widget.task.error is None, widget.task.status.text()


def test_open_photron_file_through_the_reader(viewer, photron_writer):
    counts = (np.arange(5 * 6 * 7).reshape(5, 6, 7) * 37) % 256
    path = photron_writer(counts.astype(np.uint8), bits=8, record_rate=15000.0, save_step=100)
    [layer] = viewer.open(str(path), plugin="vibmag")
    np.testing.assert_allclose(np.asarray(layer.data), counts / 255.0, rtol=1e-6)
    assert tuple(layer.scale) == pytest.approx((1 / 150.0, 1.0, 1.0))  # record rate / save step
    assert [str(u) for u in layer.units] == ["second", "pixel", "pixel"]
    assert layer.metadata[METADATA_KEY]["frame_rate"] == "150 Hz"
    [beams] = viewer.open(str(sample_data.path("showcase_beams")), plugin="vibmag")
    assert beams.data.shape == (75, 40, 640)


def test_samples_open_from_the_menu_commands(viewer):
    [plate] = viewer.open_sample("vibmag", "plate")
    assert plate.data.shape == (64, 96, 128)
    assert tuple(plate.scale) == pytest.approx((1 / 500.0, 0.1, 0.1))
    assert [str(u) for u in plate.units] == ["second", "millimeter", "millimeter"]
    assert "40 Hz" in plate.metadata[METADATA_KEY]["scene"]
    [beams] = viewer.open_sample("vibmag", "beams")
    assert beams.metadata[METADATA_KEY]["camera"].startswith("FASTCAM")


def test_magnify_widget_magnifies_alpha_times_inside_the_region_only(viewer, qtbot, clip, clip_in_viewer, mode):
    """The widget's default method (the shipped flowmag) scored against the exact render of the clip magnified by
    the same alpha map (the region, its transition, 1 outside); no flow estimator judges the result."""
    hz, _ = mode
    image, shapes = clip_in_viewer
    _, widget = viewer.window.add_plugin_dock_widget("vibmag", "Magnify")
    assert widget.method.value == "flowmag"  # the default, and the method tested here
    widget.image.value, widget.region.value = image, shapes

    widget.suggest_button.native.click()
    _wait(qtbot, widget)
    suggestion = widget.suggestions.value
    assert suggestion.frequency == pytest.approx(hz, abs=1.0)
    assert widget.low.value < hz < widget.high.value  # the strongest peak's band was applied

    alpha = 5.0
    widget.alpha.value = alpha
    widget.run_button.native.click()
    assert widget.task.busy  # the work runs in a thread; the click returned at once
    _wait(qtbot, widget)
    result = viewer.layers[-1]
    assert widget.result.name == result.name  # (napari hands plugin widgets proxies of its objects)
    assert result.data.shape == image.data.shape
    assert tuple(result.scale) == pytest.approx(tuple(image.scale))
    assert result.translate[2] > 64 and result.translate[:2] == pytest.approx(image.translate[:2])  # side by side
    provenance = result.metadata[METADATA_KEY]
    assert (provenance["alpha"], provenance["method"]) == (alpha, "flowmag")
    assert widget.task.bar.value() == widget.task.bar.maximum()

    # Ground truth: the clip re-rendered noise-free with its motion times the widget's alpha map; its one mode
    # lies in the applied band.
    inside = region_from_layer(shapes, image, clip)
    alpha_map = with_region(alpha_grid(alpha, inside.shape), inside, DEFAULT_TRANSITION)
    exact = render_magnified(clip, alpha_map, band=(f"{widget.low.value} Hz", f"{widget.high.value} Hz"))["frames"].values
    out, recorded = np.asarray(result.data), np.asarray(image.data)

    def rms(frames, where):
        return float(np.sqrt(np.mean((frames[:, where] - exact[:, where]) ** 2)))

    core = np.zeros(inside.shape, bool)
    core[24:40, 24:40] = True  # the region less its 8 px transition: alpha 5 throughout
    # Measured (RMSE, doing nothing / flowmag / method "lagrangian"): core 0.0352 / 0.0141 / 0.0106, transition
    # 0.0177 / 0.0079 / 0.0057; outside the region the output is the recording, bit for bit.
    assert rms(out, core) < 0.5 * rms(recorded, core)
    assert rms(out, inside & ~core) < 0.55 * rms(recorded, inside & ~core)
    np.testing.assert_array_equal(out[:, ~inside], recorded[:, ~inside])


def test_adaptation_steps_are_offered_only_where_they_can_act(viewer):
    """The shipped flowmag's learned correction is off in magnify (confidence 1), so adapting could not change the
    result: the box is off and says why; it is off for the classical methods too."""
    _, widget = viewer.window.add_plugin_dock_widget("vibmag", "Magnify")
    assert widget.method.value == "flowmag" and not widget.adapt_steps.enabled
    assert "could not change the result" in widget.adapt_steps.tooltip
    widget.method.value = "lagrangian"
    assert not widget.adapt_steps.enabled


def test_magnify_widget_cancels(viewer, qtbot, clip_in_viewer):
    image, _ = clip_in_viewer
    _, widget = viewer.window.add_plugin_dock_widget("vibmag", "Magnify")
    widget.image.value, widget.method.value, widget.use_band.value = image, "lagrangian", False
    viewer.add_labels(np.zeros((64, 64), np.int32), name="painted")  # choices follow the layer list
    assert "painted" in [layer.name for layer in widget.region.choices if layer is not None]
    n_layers = len(viewer.layers)
    widget.run_button.native.click()
    widget.task.cancel_button.click()
    qtbot.waitUntil(lambda: not widget.task.busy, timeout=WORK_TIMEOUT_MS)
    assert isinstance(widget.task.error, vibmag.errors.CancelledError)
    assert widget.task.status.text() == "cancelled"
    assert len(viewer.layers) == n_layers


def test_inspect_widget_finds_the_mode_at_a_clicked_point(viewer, qtbot, clip_in_viewer, mode, MouseEvent):
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    hz, amplitude = mode
    image, shapes = clip_in_viewer
    _, widget = viewer.window.add_plugin_dock_widget("vibmag", "Inspect")
    widget.image.value = image
    viewer.layers.selection.active = image

    position = (0.0, *image.data_to_world((0, 30, 33))[1:])  # a click on pixel (30, 33)
    for kind, dispatch in (("mouse_press", mouse_press_callbacks), ("mouse_release", mouse_release_callbacks)):
        event = MouseEvent(type=kind, position=position, dims_displayed=(1, 2), button=1)
        event.modifiers = ()
        dispatch(viewer, event)
    _wait(qtbot, widget)  # the first click measures the displacement, then shows the point
    qtbot.waitUntil(lambda: widget.inspection is not None, timeout=WORK_TIMEOUT_MS)

    inspection = widget.inspection
    assert inspection.where == "point (y, x) = (30, 33) px"
    assert float(inspection.peaks["frequency"][0]) == pytest.approx(hz, abs=1.0)
    assert float(inspection.peaks["amplitude"].sel(component="y")[0]) == pytest.approx(amplitude, rel=0.1)
    spectrum_axes = widget.figure.axes[1]
    line = max(spectrum_axes.get_lines()[:2], key=lambda artist: np.max(artist.get_ydata()))
    assert line.get_xdata()[np.argmax(line.get_ydata())] == pytest.approx(hz, abs=400 / 32 / 2)  # the drawn peak
    assert widget.table.rowCount() >= 1 and float(widget.table.item(0, 0).text()) == pytest.approx(hz, abs=1.0)
    # the table's sigma comes from the measured noise and motion-model error, not the spectrum's own floor
    assert "amplitude_systematic" in inspection.peaks and float(inspection.peaks["snr"][0]) > 4
    headers = [widget.table.horizontalHeaderItem(i).text() for i in range(widget.table.columnCount())]
    assert float(widget.table.item(0, headers.index("\u03c3y [px]")).text()) == pytest.approx(
        float(inspection.peaks["amplitude_sigma"].sel(component="y")[0]), rel=0.06)  # shown to 2 digits
    assert float(widget.table.item(0, headers.index("periods")).text()) == pytest.approx(
        float(inspection.peaks["frequency"][0]) / float(inspection.spectrum["frequency"][1]), rel=0.01)

    widget.region.value = shapes
    widget.region_button.native.click()
    assert widget.inspection.where == "region of 1024 px"
    assert float(widget.inspection.peaks["frequency"][0]) == pytest.approx(hz, abs=1.0)

    n_layers = len(viewer.layers)
    widget.shape_button.click()
    magnitude, phase, vectors = viewer.layers[n_layers:]
    assert magnitude.data.shape == (64, 64) and tuple(magnitude.scale) == pytest.approx(tuple(image.scale[1:]))
    assert np.median(magnitude.data[16:48, 16:48]) == pytest.approx(amplitude, rel=0.1)
    assert np.ptp(phase.data[16:48, 16:48]) < 10.0  # a rigid mode: in phase everywhere
    assert type(vectors).__name__ == "Vectors" and vectors.data.shape[1:] == (2, 2)


def test_ignore_lighting_changes_keeps_a_light_swing_out_of_the_spectrum(viewer, qtbot):
    """A still-lit speckle plate whose 10 px blob of light swings by 6 % at 40 Hz (nothing moves): as recorded the
    region's spectrum shows the light as a 40 Hz line (measured 0.027 px); with the box ticked the estimator removes
    each frame's smooth brightness first (measured 0.0029 px; tests/test_flow_options.py has the same plate)."""
    from vibmag.synthetic import vibrating_plate

    ds = vibrating_plate((64, 64), n_frames=64, frame_rate="1 kHz", noise=1 / 255, seed=4, modes=[])
    t = np.arange(64) / 1000.0
    y, x = np.mgrid[:64, :64]
    light = 0.06 * np.sin(2 * np.pi * 40.0 * t)[:, None, None] * np.exp(-((x - 30) ** 2 + (y - 34) ** 2) / 200.0)
    lit = ds.assign(frames=(ds["frames"].dims, (ds["frames"].values + light).astype(np.float32)))
    data, kwargs, _ = layer_data_tuple(lit.drop_vars("true_displacement"), "lit")
    image = viewer.add_image(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget("vibmag", "Inspect")
    widget.image.value = image

    def line_at_40_hz() -> float:
        widget.region_button.native.click()  # the first click measures the displacement, then shows the region
        _wait(qtbot, widget)
        qtbot.waitUntil(lambda: widget.inspection is not None, timeout=WORK_TIMEOUT_MS)
        line = float(widget.inspection.spectrum.sel(frequency=40.0, method="nearest").max())
        widget.inspection = None
        return line

    as_recorded = line_at_40_hz()
    widget.lighting.value = True  # drops the measurement made without it
    assert widget.displacement is None
    without_light = line_at_40_hz()
    assert as_recorded > 0.02 and without_light < 0.2 * as_recorded, (as_recorded, without_light)
