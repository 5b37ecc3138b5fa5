"""The Magnify and Inspect dock widgets: Qt front ends that collect inputs and call the Qt-free core.

Everything computed here goes through :mod:`vibmag.napari._compute` (vibmag's
public functions); long work runs in a napari thread worker with a progress
bar and a cancel button that sets the :class:`threading.Event` those
functions take, so the viewer never freezes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial

import napari
import napari.layers
import numpy as np
import xarray as xr
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, PushButton, SpinBox
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.experimental import link_layers
from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                            QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from vibmag.analysis import resolved_peaks
from vibmag.errors import CancelledError
from vibmag.flow.api import supports_uncertainty
from vibmag.pipeline import METHODS
from vibmag.units import ureg
from vibmag.viz import plot_spectrum, plot_waveform

from . import _compute
from ._layers import image_pixel, recording_from_layer, result_layer_kwargs
from ._regions import region_from_layer

__all__ = ["MagnifyWidget", "InspectWidget", "TaskPanel"]

logger = logging.getLogger(__name__)

Job = Callable[[Callable[[int, int], None], threading.Event], object]


class _Relay(QObject):
    """Carries progress reports from a worker thread to the GUI thread (a queued Qt connection)."""

    progressed = Signal(int, int)


class TaskPanel(QWidget):
    """Progress bar, cancel button and status line running one background job at a time.

    A job is called as ``job(progress, cancel)`` in a napari thread worker;
    ``progress(done, total)`` may be called from that thread, and ``cancel``
    is the :class:`threading.Event` the Cancel button sets.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self._relay = _Relay()
        self._relay.progressed.connect(self._show_progress)
        self._event: threading.Event | None = None
        self.worker = None
        self.error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def run(self, job: Job, *, on_done: Callable[[object], None], what: str) -> None:
        """Start ``job`` in a thread worker; ``on_done(result)`` runs in the GUI thread when it returns."""
        if self.busy:
            self.say(f"busy: wait for the running job or cancel it before {what}", error=True)
            return
        self._event = threading.Event()
        self.error = None
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.cancel_button.setEnabled(True)
        self.say(f"{what}...")
        connect = {"returned": partial(self._returned, on_done, what), "errored": self._errored,
                   "finished": self._finished}
        self.worker = create_worker(job, self._relay.progressed.emit, self._event, _connect=connect, _start_thread=True)

    def cancel(self) -> None:
        if self._event is not None:
            self._event.set()
            self.say("cancelling...")

    def say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #f06060;" if error else "")

    def _show_progress(self, done: int, total: int) -> None:
        if self.busy:
            self.bar.setRange(0, max(total, 1))
            self.bar.setValue(done)

    def _returned(self, on_done, what: str, result) -> None:
        self.say(f"{what}: done")
        try:
            on_done(result)
        except Exception as exc:  # shown to the user, not raised into Qt's event loop
            self._errored(exc)

    def _errored(self, exc: BaseException) -> None:
        self.error = exc
        if isinstance(exc, CancelledError):
            self.say("cancelled")
        else:
            logger.debug("vibmag widget job failed", exc_info=exc)
            self.say(f"{type(exc).__name__}: {exc}", error=True)

    def _finished(self) -> None:
        self.worker = None
        self._event = None
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if self.error is None else 0)


class _LayerForm(QWidget):
    """Base of both widgets: a magicgui form whose layer choices follow the viewer's layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.image = ComboBox(label="recording", choices=self._images)
        self.region = ComboBox(label="region", choices=self._regions)
        self.lighting = CheckBox(text="ignore lighting changes", value=False,
                                 tooltip="remove each frame's smooth brightness (4 px local mean) before measuring, so "
                                         "a flicker or a passing reflection is not read as motion")
        self.task = TaskPanel()

    def flow_options(self) -> dict | None:
        """The displacement estimator's options the form asks for (None: the defaults)."""
        return dict(_compute.LIGHTING_OPTIONS) if self.lighting.value else None

    def _images(self, _widget=None) -> list[tuple[str, object]]:
        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, napari.layers.Image) and layer.ndim >= 3]

    def _regions(self, _widget=None) -> list[tuple[str, object]]:
        return [("whole frame", None)] + [(layer.name, layer) for layer in self.viewer.layers
                                          if isinstance(layer, (napari.layers.Shapes, napari.layers.Labels))]

    def reset_choices(self, *_) -> None:
        """Refresh the layer choices (napari calls this when layers are added, removed or renamed)."""
        self.form.reset_choices()

    def _recording_and_region(self):
        """The chosen layer's recording and region mask; raises ValueError/RegionError with the reason."""
        image = self.image.value
        if image is None:
            raise ValueError("choose a recording layer (open one with File > Open or File > Open Sample > vibmag)")
        ds = recording_from_layer(image)
        return image, ds, region_from_layer(self.region.value, image, ds)

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run a button's action; input errors go to the status line."""
        try:
            action()
        except Exception as exc:
            self.task.say(f"{type(exc).__name__}: {exc}", error=True)


class MagnifyWidget(_LayerForm):
    """Magnify the motion of a recording layer, in one band and one region, into a new layer beside it."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self._suggestions: list[_compute.BandSuggestion] = []
        self.alpha = FloatSpinBox(label="alpha", value=10.0, min=0.1, max=10000.0, step=1.0)
        self.use_band = CheckBox(text="magnify one band only", value=True)
        self.low = FloatSpinBox(label="band low (Hz)", value=0.0, min=0.0, max=1e7, step=1.0)
        self.high = FloatSpinBox(label="band high (Hz)", value=0.0, min=0.0, max=1e7, step=1.0)
        self.suggest_button = PushButton(text="Find the region's spectral peaks")
        self.suggestions = ComboBox(label="peaks", choices=self._suggestion_choices)
        self.method = ComboBox(label="method", choices=list(METHODS), value="flowmag")
        self.adapt_steps = SpinBox(label="adaptation steps", value=0, min=0, max=100000)
        self.placement = ComboBox(label="result", choices=["side by side", "overlay"], value="side by side")
        self.run_button = PushButton(text="Magnify")
        self.form = Container(widgets=[self.image, self.region, self.lighting, self.alpha, self.use_band, self.low,
                                       self.high, self.suggest_button, self.suggestions, self.method, self.adapt_steps,
                                       self.placement, self.run_button])
        layout = QVBoxLayout(self)
        layout.addWidget(self.form.native)
        layout.addWidget(self.task)
        layout.addStretch(1)
        self.result = None  # the last result layer

        self.use_band.changed.connect(self._band_enabled)
        self.image.changed.connect(self._forget_suggestions)
        self.region.changed.connect(self._forget_suggestions)
        self.lighting.changed.connect(self._forget_suggestions)
        self.suggestions.changed.connect(self._apply_suggestion)
        self.method.changed.connect(self._adapt_enabled)
        self._adapt_enabled(self.method.value)
        self.suggest_button.changed.connect(lambda: self._guarded(self.suggest))
        self.run_button.changed.connect(lambda: self._guarded(self.run))

    def _adapt_enabled(self, method: str) -> None:
        """Offer adaptation steps only where they can change the result (:func:`_compute.adaptation_acts`)."""
        acts = method == "flowmag" and _compute.adaptation_acts()
        self.adapt_steps.enabled = acts
        self.adapt_steps.tooltip = None if acts else _compute.ADAPTATION_OFF

    def suggest(self) -> None:
        """Measure the region's motion in a worker and offer its dominant spectral peaks as bands."""
        _, ds, region = self._recording_and_region()
        job = partial(_compute.suggest_bands, ds, region, flow_options=self.flow_options())
        self.task.run(lambda progress, cancel: job(progress=progress, cancel=cancel), on_done=self._show_suggestions,
                      what="measuring the region's spectrum")

    def run(self) -> None:
        """Magnify in a worker; the result becomes a new layer linked to the recording's."""
        image, ds, region = self._recording_and_region()
        band = (ureg.Quantity(self.low.value, "Hz"), ureg.Quantity(self.high.value, "Hz")) if self.use_band.value else None
        job = partial(_compute.magnify_recording, ds, float(self.alpha.value), band=band, region=region,
                      method=self.method.value, adapt_steps=int(self.adapt_steps.value), flow_options=self.flow_options())
        self.task.run(lambda progress, cancel: job(progress=progress, cancel=cancel),
                      on_done=partial(self._add_result, image), what=f"magnifying {image.name}")

    def _add_result(self, image, result) -> None:
        kwargs = result_layer_kwargs(image, result, placement=self.placement.value)
        self.result = self.viewer.add_image(result["frames"].data, **kwargs)
        link_layers([image, self.result], ("contrast_limits", "gamma"))

    def _show_suggestions(self, suggestions) -> None:
        self._suggestions = list(suggestions)
        self.suggestions.reset_choices()
        if not suggestions:
            self.task.say("no spectral peak found in the region", error=True)

    def _forget_suggestions(self, *_) -> None:
        """Peaks found for another recording or region no longer apply."""
        if self._suggestions:
            self._suggestions = []
            self.suggestions.reset_choices()

    def _suggestion_choices(self, _widget=None):
        return [(s.label, s) for s in self._suggestions]

    def _apply_suggestion(self, suggestion) -> None:
        if suggestion is not None:
            self.use_band.value = True
            self.low.value, self.high.value = round(suggestion.low, 3), round(suggestion.high, 3)

    def _band_enabled(self, enabled: bool) -> None:
        self.low.enabled = self.high.enabled = bool(enabled)


class InspectWidget(_LayerForm):
    """Waveform, spectrum and peak table at a clicked point or over a region; deflection shapes as layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self.units = ComboBox(label="units", choices=["px", "mm"], value="px")
        self.probe = CheckBox(text="click the recording to probe a point", value=True)
        self.measure_button = PushButton(text="Measure displacement")
        self.region_button = PushButton(text="Inspect region")
        self.form = Container(widgets=[self.image, self.region, self.lighting, self.units, self.probe,
                                       self.measure_button, self.region_button])
        self.figure = Figure(figsize=(4.0, 4.2), constrained_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(320)
        self.table = QTableWidget(0, 4)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(120)
        self.shape_button = QPushButton("Add deflection shape at the selected peak")
        self.report_button = QPushButton("Export report")
        self.report_button.setToolTip("write an HTML inspection report of the recording (region and probed point included)")
        self.report = None  # the last report written (vibmag.reporting.Report)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form.native)
        layout.addWidget(self.task)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.table)
        layout.addWidget(self.shape_button)
        layout.addWidget(self.report_button)

        self.displacement = None  # (layer, DataArray or the Dataset with its error parts) of the last measurement
        self.inspection: _compute.Inspection | None = None
        self._target: tuple = ("point", None)  # what the plots show: ("point", (y, x)) or ("region", mask)
        self.units.changed.connect(lambda _: self._guarded(self._refresh))
        self.lighting.changed.connect(self._forget_measurement)
        self.measure_button.changed.connect(lambda: self._guarded(self.measure))
        self.region_button.changed.connect(lambda: self._guarded(self.inspect_region))
        self.shape_button.clicked.connect(lambda: self._guarded(self.add_deflection_shape))
        self.report_button.clicked.connect(lambda: self._guarded(self.export_report))
        viewer.mouse_drag_callbacks.append(self._on_mouse)
        self.destroyed.connect(partial(_discard, viewer.mouse_drag_callbacks, self._on_mouse))

    # --- actions ---------------------------------------------------------------------------------

    def measure(self, then: Callable[[], None] | None = None) -> None:
        """Measure the chosen recording's displacement (whole frame) in a worker, then run ``then``."""
        image, ds, _ = self._recording_and_region()

        def done(disp) -> None:
            self.displacement = (image, disp)
            if then is not None:
                then()

        self.task.run(partial(_measure, ds, self.flow_options()), on_done=done,
                      what=f"measuring the displacement of {image.name}")

    def inspect_point(self, y: float, x: float) -> None:
        """Show the waveform, spectrum and peaks at pixel (y, x) of the chosen recording."""
        self._target = ("point", (float(y), float(x)))
        self._refresh()

    def inspect_region(self) -> None:
        """Show the region's mean waveform, its averaged spectrum and peaks."""
        image, ds, region = self._recording_and_region()
        self._target = ("region", region)
        self._refresh()

    def add_deflection_shape(self) -> list:
        """Add the deflection shape at the selected peak: magnitude and phase images and a vectors layer."""
        disp = self._current_displacement()
        if disp is None or self.inspection is None or self.inspection.peaks.sizes["peak"] == 0:
            raise ValueError("inspect a point or region with a spectral peak first")
        row = max(self.table.currentRow(), 0)
        frequency = float(self.inspection.peaks["frequency"].values[row])
        point = self._target[1] if self._target[0] == "point" else None
        shape = _compute.deflection_layers(disp, frequency, units=self.units.value, reference=point)
        return self._add_shape_layers(self.image.value, shape)

    def export_report(self, path=None) -> None:
        """Write the chosen recording's inspection report in a worker (the region's spectrum, the probed point's orbit).

        ``path``: the HTML file; None asks with a save dialog.
        """
        image, ds, region = self._recording_and_region()
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export report", f"{image.name}-report.html", "HTML (*.html)")
            if not path:
                return
        point = self._target[1] if self._target[0] == "point" else None
        job = partial(_export, ds, path, region, None if point is None else [point], self.flow_options())

        def done(report) -> None:
            self.report = report
            self.task.say(f"wrote {report.path}")

        self.task.run(job, on_done=done, what=f"writing the report of {image.name}")

    # --- plumbing --------------------------------------------------------------------------------

    def _forget_measurement(self, *_) -> None:
        """Drop the last measurement (made with other estimator options): the next inspection measures again."""
        self.displacement = None

    def _current_measurement(self):
        """The chosen recording's last measurement (DataArray, or Dataset with error parts), or None."""
        image = self.image.value
        if self.displacement is not None and self.displacement[0] is image:
            return self.displacement[1]
        return None

    def _current_displacement(self):
        measured = self._current_measurement()
        return measured["displacement"] if isinstance(measured, xr.Dataset) else measured

    def _current_errors(self) -> dict:
        """``inspect``'s ``uncertainty`` (the frame-to-frame noise) and ``model_error``, where measured."""
        measured = self._current_measurement()
        if not isinstance(measured, xr.Dataset):
            return {}
        return {"uncertainty": measured["noise"], "model_error": measured["model_error"]}

    def _refresh(self) -> None:
        kind, where = self._target
        if kind == "point" and where is None:
            return
        disp = self._current_displacement()
        if disp is None:
            self.measure(then=lambda: self._guarded(self._refresh))
            return
        errors = self._current_errors()
        if kind == "point":
            inspection = _compute.inspect(disp, point=where, units=self.units.value, **errors)
        else:
            inspection = _compute.inspect(disp, region=where, units=self.units.value, **errors)
        self._show(inspection)

    def _show(self, inspection: _compute.Inspection) -> None:
        self.inspection = inspection
        self.figure.clear()
        top, bottom = self.figure.subplots(2, 1)
        plot_waveform(inspection.waveform, ax=top)
        top.set_title(inspection.where, fontsize="medium")
        plot_spectrum(inspection.spectrum, ax=bottom, peaks=inspection.peaks)
        bottom.set_title("amplitude spectrum", fontsize="medium")
        self.canvas.draw_idle()
        self._fill_table(inspection.peaks)
        self.task.say(f"{inspection.where}: {inspection.peaks.sizes['peak']} peaks")

    def _fill_table(self, peaks) -> None:
        units = peaks["amplitude"].attrs.get("units", "px")
        sigma = peaks["amplitude_sigma"].transpose("peak", "component") if "amplitude_sigma" in peaks else None
        headers = ["f [Hz]", f"x [{units}]", f"y [{units}]", "Q"]
        headers += [] if sigma is None else [f"\u03c3x [{units}]", f"\u03c3y [{units}]", "SNR"]
        headers += ["periods"] if "cycles" in peaks else []
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(peaks.sizes["peak"])
        amplitude = peaks["amplitude"].transpose("peak", "component")
        resolved = resolved_peaks(peaks)
        for row in range(peaks.sizes["peak"]):
            cells = [f"{float(peaks['frequency'][row]):.4g}",
                     f"{float(amplitude.sel(component='x')[row]):.3g}",
                     f"{float(amplitude.sel(component='y')[row]):.3g}",
                     f"{float(peaks['q'][row]):.3g}"]
            if sigma is not None:  # the amplitudes' 1-sigma and the SNR (below 4: within the noise)
                cells += [f"{float(sigma.sel(component=c)[row]):.2g}" for c in ("x", "y")]
                cells.append(f"{float(peaks['snr'][row]):.3g}")
            if "cycles" in peaks:  # periods in the record; too few: a drift or a step (resolved_peaks)
                cells.append(f"{float(peaks['cycles'][row]):.3g}" + ("" if resolved[row] else " (drift or step)"))
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        if peaks.sizes["peak"]:
            self.table.selectRow(0)

    def _add_shape_layers(self, image, shape: dict) -> list:
        spatial = {"scale": tuple(image.scale[-2:]), "translate": tuple(image.translate[-2:]),
                   "units": tuple(str(u) for u in image.units[-2:])}
        label = f"{shape['frequency']:.4g} Hz"
        magnitude = self.viewer.add_image(shape["magnitude"], name=f"deflection {label} magnitude [{shape['units']}]",
                                          colormap="viridis", blending="additive", **spatial,
                                          metadata={"frequency_hz": shape["frequency"], "units": shape["units"]})
        phase = self.viewer.add_image(shape["phase"], name=f"deflection {label} phase of {shape['component']} [deg]",
                                      colormap="twilight", contrast_limits=(-180.0, 180.0), visible=False, **spatial,
                                      metadata={"frequency_hz": shape["frequency"], "units": "deg"})
        vectors, step = shape["vectors"], shape["step"]
        # Drawn long enough to see: most arrows at most 0.9 grid steps (their length is in the metadata).
        typical = float(np.percentile(np.hypot(vectors[:, 1, 0], vectors[:, 1, 1]), 95)) if len(vectors) else 0.0
        length = 0.9 * step / typical if typical > 0 else 1.0
        arrows = self.viewer.add_vectors(vectors, name=f"deflection {label} motion x{length:.3g}", edge_color="orange",
                                         edge_width=0.25 * step, length=length, vector_style="arrow", **spatial,
                                         metadata={"frequency_hz": shape["frequency"], "units": "px",
                                                   "drawn_length_factor": length})
        return [magnitude, phase, arrows]

    def _on_mouse(self, viewer, event):
        """Probe a point on a click (not a drag) while a recording layer is the active layer."""
        if event.type != "mouse_press" or not self.probe.value:
            return
        image = self.image.value
        if image is None or viewer.layers.selection.active is not image:
            return
        start = tuple(event.position)
        dragged = False
        yield
        while event.type == "mouse_move":
            dragged = True
            yield
        if not dragged:
            y, x = image_pixel(image, start)
            height, width = image.data.shape[1:3]
            if -0.5 <= y < height - 0.5 and -0.5 <= x < width - 0.5:
                self._guarded(partial(self.inspect_point, y, x))


def _measure(ds, flow_options, progress, cancel):
    """The displacement, with its error parts where the default estimator gives them (the Inspect table's sigma)."""
    return _compute.measure_displacement(ds, progress=progress, cancel=cancel, with_errors=supports_uncertainty(),
                                         flow_options=flow_options)


def _export(ds, path, region, points, flow_options, progress, cancel):
    return _compute.export_report(ds, path, region=region, points=points, flow_options=flow_options, progress=progress,
                                  cancel=cancel)


def _discard(callbacks: list, callback) -> None:
    if callback in callbacks:
        callbacks.remove(callback)
