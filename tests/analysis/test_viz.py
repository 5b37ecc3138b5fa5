"""Plots drawn on an Agg canvas; the artists hold the data they show."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vibmag import viz
from vibmag.analysis import AnalysisError, deflection_shape, find_peaks, orbit, spectrum, waveform


def agg_axes(ncols=1):
    figure = Figure()
    FigureCanvasAgg(figure)
    return figure.subplots(1, ncols)


def draw(artist_or_axes):
    artist_or_axes.figure.canvas.draw()


def test_plot_waveform_lines_hold_the_waveform(two_modes):
    wave = waveform(two_modes.disp, point=(4, 6))
    ax = agg_axes()
    lines = viz.plot_waveform(wave, ax=ax)["lines"]
    draw(ax)
    assert [line.get_label() for line in lines] == ["x", "y"]
    np.testing.assert_array_equal(lines[1].get_xdata(), wave["time"].values)
    np.testing.assert_array_equal(lines[1].get_ydata(), wave.sel(component="y").values)
    assert ax.get_xlabel() == "time [s]" and ax.get_ylabel() == "displacement [px]"


def test_plot_spectrum_marks_peaks_at_their_frequencies(two_modes):
    spec = spectrum(two_modes.disp)
    peaks = find_peaks(spec, n=2)
    ax = agg_axes()
    drawn = viz.plot_spectrum(spec, peaks=peaks, ax=ax)
    draw(ax)
    np.testing.assert_array_equal(drawn["lines"][0].get_ydata(), spec.sel(component="x").values)
    np.testing.assert_array_equal(drawn["lines"][0].get_xdata(), spec["frequency"].values)
    for markers in drawn["peaks"]:
        np.testing.assert_allclose(markers.get_xdata(), peaks["frequency"].values)
    assert [label.get_text() for label in drawn["labels"]] == [f"{f:.4g} Hz" for f in peaks["frequency"].values]
    assert ax.get_xlabel() == "frequency [Hz]" and ax.get_ylabel() == "amplitude [px]"


def test_plot_spectrum_in_rpm_and_log(two_modes):
    spec = spectrum(two_modes.disp, scaling="psd")
    ax = agg_axes()
    drawn = viz.plot_spectrum(spec, ax=ax, frequency_unit="rpm", log=True)
    np.testing.assert_array_equal(drawn["lines"][1].get_xdata(), spec["frequency"].values * 60)
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "power spectral density [px**2/Hz]"
    assert drawn["peaks"] == [] and ax.get_xlabel() == "frequency [rpm]"


def test_plot_deflection_shape_shows_magnitude_and_phase(two_modes):
    shape = deflection_shape(two_modes.disp, "37.3 Hz")
    axes = agg_axes(2)
    drawn = viz.plot_deflection_shape(shape, ax=axes)
    draw(axes[0])
    expected = np.sqrt((np.abs(shape.values) ** 2).sum(axis=0))
    np.testing.assert_allclose(drawn["magnitude"].get_array(), expected)
    phase = np.ma.masked_invalid(drawn["phase"].get_array())
    np.testing.assert_allclose(phase.compressed(), np.angle(shape.sel(component="y").values, deg=True)[~phase.mask],
                               atol=1e-9)
    assert drawn["magnitude"].get_extent() == [-0.5, 27.5, 19.5, -0.5]
    assert drawn["colorbars"][1].ax.get_ylabel() == "phase [deg]"


def test_flow_colour_wheel_and_arrows(two_modes):
    flow = two_modes.disp.isel(time=7)
    ax = agg_axes()
    drawn = viz.plot_flow(flow, ax=ax)
    draw(ax)
    np.testing.assert_allclose(drawn["image"].get_array(), viz.flow_to_rgb(flow.values))
    assert drawn["key"] is not None
    ax = agg_axes()
    arrows = viz.plot_flow(flow, ax=ax, kind="arrows", step=4, scale=10.0, background=np.zeros((20, 28)))
    draw(ax)
    quiver = arrows["quiver"]
    np.testing.assert_array_equal(quiver.U, flow.sel(component="x").values[2::4, 2::4].ravel())
    np.testing.assert_array_equal(quiver.V, flow.sel(component="y").values[2::4, 2::4].ravel())
    assert quiver.scale == pytest.approx(0.1) and arrows["background"] is not None
    with pytest.raises(AnalysisError, match=r"select one, e.g. disp.isel\(time=10\)"):
        viz.plot_flow(two_modes.disp, ax=ax)


def test_flow_colours_encode_direction_and_magnitude():
    right, down, still = (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)
    flow = np.array([[[right[0], down[0], still[0]]], [[right[1], down[1], still[1]]]])
    rgb = viz.flow_to_rgb(flow)[0]
    np.testing.assert_allclose(rgb[0], matplotlib.colors.hsv_to_rgb([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(rgb[1], matplotlib.colors.hsv_to_rgb([0.25, 1.0, 1.0]))
    np.testing.assert_allclose(rgb[2], [1.0, 1.0, 1.0])
    half = viz.flow_to_rgb(flow, max_magnitude=2.0)[0, 0]
    np.testing.assert_allclose(half, matplotlib.colors.hsv_to_rgb([0.0, 0.5, 1.0]))


def test_plot_orbit_draws_y_against_x(two_modes):
    path = orbit(two_modes.disp, point=(5, 14))
    ax = agg_axes()
    drawn = viz.plot_orbit(path, ax=ax)
    draw(ax)
    np.testing.assert_array_equal(drawn["line"].get_xdata(), path["x"].values)
    np.testing.assert_array_equal(drawn["line"].get_ydata(), path["y"].values)
    assert drawn["start"].get_xdata()[0] == path["x"].values[0]
    assert ax.yaxis_inverted() and ax.get_xlabel() == "x [px]"
    as_waveform = viz.plot_orbit(waveform(two_modes.disp, point=(5, 14)), ax=agg_axes())
    np.testing.assert_array_equal(as_waveform["line"].get_ydata(), path["y"].values)


def test_without_ax_a_new_figure_is_made(make_tones):
    import matplotlib.pyplot as plt

    wave = make_tones([(1.0, 5.0, 0.0)], n=50)
    lines = viz.plot_waveform(wave)["lines"]
    try:
        assert lines[0].figure is not None and len(lines[0].axes.lines) == 1
    finally:
        plt.close(lines[0].figure)
