"""The Inspect widget's "Export report" button in a real napari viewer: the report of the clip, its region and probed point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vibmag.napari._layers import layer_data_tuple

WORK_TIMEOUT_MS = 240_000


def test_export_report_writes_the_report_in_a_worker(make_napari_viewer, qtbot, clip, mode, tmp_path):
    viewer = make_napari_viewer()
    data, kwargs, _ = layer_data_tuple(clip, "clip")
    image = viewer.add_image(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget("vibmag", "Inspect")
    widget.image.value = image
    assert widget.report_button.text() == "Export report"
    widget._target = ("point", (30.0, 33.0))  # as a click on pixel (30, 33) leaves it
    path = tmp_path / "clip.html"
    widget.export_report(path)
    qtbot.waitUntil(lambda: not widget.task.busy, timeout=WORK_TIMEOUT_MS)
    assert widget.task.error is None, widget.task.status.text()
    assert widget.report is not None and widget.report.path == path
    assert widget.task.status.text() == f"wrote {path}"
    report = json.loads(path.with_suffix(".json").read_text())
    hz, amplitude = mode
    assert report["dominant_peak"]["frequency_hz"] == pytest.approx(hz, abs=1.0)
    assert report["dominant_peak"]["amplitude_y_px"] == pytest.approx(amplitude, rel=0.2)
    assert report["points"][0]["point_yx"] == [30.0, 33.0] and report["clip"]["frames"] == clip.sizes["time"]
    assert np.isfinite(report["points"][0]["rms_y_px"])
