"""Plots of vibration measurements with matplotlib.

Every function takes ``ax=`` (None: a new figure from
:func:`matplotlib.pyplot.subplots`), draws on it without touching pyplot's
current figure or global settings, labels axes with units, and returns a dict
of the artists it made so callers can restyle or test them. Nothing calls
``plt.show``.

Images follow the frame: ``x`` to the right, ``y`` down, pixel centres at the
``x``/``y`` coordinates.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.colors import hsv_to_rgb

from .analysis.errors import AnalysisError
from .analysis.shapes import shape_magnitude, shape_phase
from .analysis.spectra import SNR_MIN, resolved_peaks
from .units import ureg

__all__ = ["plot_waveform", "plot_spectrum", "plot_deflection_shape", "plot_motion_map", "plot_flow", "plot_orbit",
           "flow_to_rgb"]


def plot_waveform(wave: xr.DataArray, *, ax=None) -> dict:
    """Motion over time, one line per component.

    Parameters
    ----------
    wave : xarray.DataArray, dims ("time",) or ("time", "component")
        E.g. from :func:`vibmag.analysis.waveform`.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    dict
        ``lines``: list of Line2D, one per component (labelled with it).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> wave = xr.DataArray(np.zeros((10, 2)), dims=("time", "component"),
    ...                     coords={"time": np.arange(10) / 100, "component": ["x", "y"]},
    ...                     attrs={"units": "px"})
    >>> [line.get_label() for line in plot_waveform(wave, ax=Figure().subplots())["lines"]]
    ['x', 'y']
    """
    ax = _axes(ax)
    time = np.asarray(wave["time"].values, dtype=float)
    lines = [ax.plot(time, values, label=label)[0] for label, values in _columns(wave, "time")]
    ax.set_xlabel(f"time [{wave['time'].attrs.get('units', 's')}]")
    ax.set_ylabel(_value_label(wave, "displacement"))
    if len(lines) > 1:
        ax.legend()
    return {"lines": lines}


def plot_spectrum(spec: xr.DataArray, *, ax=None, peaks: xr.Dataset | None = None, frequency_unit: str = "Hz",
                  log: bool = False, band: tuple[float, float] | None = None) -> dict:
    """A spectrum, one line per component, with peaks marked.

    Parameters
    ----------
    spec : xarray.DataArray, dims ("frequency",) or ("frequency", "component")
        From :func:`vibmag.spectrum`.
    ax : matplotlib.axes.Axes, optional
    peaks : xarray.Dataset, optional
        From :func:`vibmag.analysis.find_peaks`; each peak is marked on every
        line at its (refined) frequency and annotated with frequency and amplitude.
        A table with ``snr`` (``find_peaks(..., noise=...)``) marks only the
        peaks that stand above the noise (``snr >= SNR_MIN``, 4), and its
        ``noise_floor`` is drawn as a dashed line per component. A peak with
        too few periods in the segment to be a vibration (``resolved_peaks``)
        is labelled "(drift or step)".
    frequency_unit : str
        Unit of the frequency axis: "Hz" (default), "kHz", "rpm", ...
    log : bool
        Logarithmic value axis.
    band : (float, float), optional
        A band in Hz (e.g. the one magnified) shaded on the frequency axis and
        named in the legend with 4 significant digits.

    Returns
    -------
    dict
        ``lines``: Line2D per component; ``peaks``: Line2D of markers per
        component (empty without ``peaks``); ``labels``: the annotations,
        stacked in rows where they would overlap; ``band``: the shaded span
        (None without ``band``); ``noise_floor``: the dashed floor lines (empty
        without a floor in ``peaks``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> from vibmag.analysis import find_peaks, spectrum
    >>> t = np.arange(1000) / 1000.0
    >>> x = xr.DataArray(np.sin(2 * np.pi * 50 * t), dims="time", coords={"time": t}, attrs={"units": "px"})
    >>> spec = spectrum(x)
    >>> drawn = plot_spectrum(spec, peaks=find_peaks(spec, n=1), frequency_unit="rpm", ax=Figure().subplots())
    >>> drawn["peaks"][0].get_xdata().tolist()
    [3000.0]
    """
    ax = _axes(ax)
    factor = _frequency_factor(spec["frequency"].attrs.get("units", "Hz"), frequency_unit)
    freqs = np.asarray(spec["frequency"].values, dtype=float) * factor
    columns = _columns(spec, "frequency")
    lines = [ax.plot(freqs, values, label=label)[0] for label, values in columns]
    markers, labels, floors = [], [], []
    if peaks is not None and "noise_floor" in peaks:
        floors = _draw_noise_floor(ax, peaks, lines, freqs)
    if peaks is not None and "snr" in peaks:
        peaks = peaks.isel(peak=np.flatnonzero(np.asarray(peaks["snr"].values) >= SNR_MIN))
    if peaks is not None:
        peak_freqs = np.asarray(peaks["frequency"].values, dtype=float) * factor
        for line, (_, values) in zip(lines, columns):
            heights = np.interp(peak_freqs, freqs, values)
            markers.append(ax.plot(peak_freqs, heights, "v", color=line.get_color(), ls="none")[0])
        tops = np.max([np.interp(peak_freqs, freqs, values) for _, values in columns], axis=0)
        texts = [f"{f:.4g} {frequency_unit}" + ("" if ok else " (drift or step)")
                 for f, ok in zip(peak_freqs, resolved_peaks(peaks))]
        rows, shifts = _label_rows(ax, peak_freqs, texts)
        labels = [ax.annotate(text, (f, top), textcoords="offset points", xytext=(shift, 6 + _ROW_POINTS * row),
                              ha="center", fontsize="small", arrowprops=_leader(row > 0 or shift != 0))
                  for f, top, text, row, shift in zip(peak_freqs, tops, texts, rows, shifts)]
        _headroom(ax, float(np.max(tops)) if len(tops) else None, max(rows, default=0), log)
    shaded = None
    if band is not None:
        low, high = (float(edge) * _frequency_factor("Hz", frequency_unit) for edge in band)
        shaded = ax.axvspan(low, high, color="tab:orange", alpha=0.15, lw=0,
                            label=f"band {low:.4g} - {high:.4g} {frequency_unit}")
    ax.set_xlabel(f"frequency [{frequency_unit}]")
    ax.set_ylabel(_value_label(spec, "amplitude"))
    if log:
        ax.set_yscale("log")
    if len(lines) > 1 or shaded is not None:
        ax.legend()
    return {"lines": lines, "peaks": markers, "labels": labels, "band": shaded, "noise_floor": floors}


def _draw_noise_floor(ax, peaks: xr.Dataset, lines: list, freqs: np.ndarray) -> list:
    """Dashed lines at each component's noise floor (the median over the peaks), in the component's colour."""
    floor = peaks["noise_floor"]
    per_line = floor.median("peak").values.reshape(-1) if floor.sizes.get("peak", 0) else []
    return [ax.plot(freqs[[0, -1]], [level, level], ls="--", lw=0.8, color=line.get_color(),
                    label=f"noise floor ({line.get_label()})" if len(lines) > 1 else "noise floor")[0]
            for line, level in zip(lines, per_line)]


#: Vertical step between rows of peak labels, in points.
_ROW_POINTS = 11


def _label_rows(ax, positions, texts: list[str]) -> tuple[list[int], list[float]]:
    """The row of each peak label (0 = just above its peak) so that no two labels of a row overlap, and its shift.

    Widths are estimated from the text length and the font size, against the
    axes' current width on the figure (so before any layout engine runs). The
    shift (points, to the right) keeps a label that would stick out of the
    axes at either side inside them, e.g. that of a peak near 0 Hz.
    """
    ax.autoscale_view()
    x0, x1 = ax.get_xlim()
    width_points = ax.get_position().width * ax.figure.get_figwidth() * 72.0
    points_per_unit = width_points / (x1 - x0) if x1 != x0 else 0.0
    size = 0.62 * 8.33  # "small" text of a 10 pt font: average character width in points
    rows, shifts, placed = [], [], []  # placed: (row, left, right) in points
    for x, text in zip(positions, texts):
        centre, half = (x - x0) * points_per_unit, 0.5 * len(text) * size + 2.0
        shift = max(0.0, half - centre) - max(0.0, centre + half - width_points)
        centre += shift
        shifts.append(shift)
        row = 0
        while any(r == row and left < centre + half and centre - half < right for r, left, right in placed):
            row += 1
        placed.append((row, centre - half, centre + half))
        rows.append(row)
    return rows, shifts


def _leader(moved: bool) -> dict | None:
    """A thin line from a label raised or shifted off its peak down to the peak (None for one right above it)."""
    return None if not moved else {"arrowstyle": "-", "color": "0.6", "lw": 0.6, "shrinkA": 0, "shrinkB": 2}


def _headroom(ax, top: float | None, rows: int, log: bool) -> None:
    """Raise the top of a linear value axis so the highest rows of labels stay inside the axes."""
    if top is None or log:
        return
    bottom, current = ax.get_ylim()
    height_points = ax.get_position().height * ax.figure.get_figheight() * 72.0
    needed = 6 + _ROW_POINTS * (rows + 1) + 4
    if height_points > needed and top > bottom:
        ax.set_ylim(bottom, max(current, bottom + (top - bottom) * height_points / (height_points - needed)))


def plot_deflection_shape(shape: xr.DataArray, *, ax=None, component: str | None = None, reference=None,
                          min_magnitude: float = 0.05) -> dict:
    """Magnitude and phase maps of an operating deflection shape over the frame.

    Parameters
    ----------
    shape : xarray.DataArray, dims ("component", "y", "x"), complex
        From :func:`vibmag.analysis.deflection_shape`.
    ax : (Axes, Axes), optional
        Where to draw the magnitude and the phase; default: a new figure with two panels.
    component : {"x", "y"}, optional
        Show one component. Default: the magnitude of the motion vector
        ``sqrt(|c_x|^2 + |c_y|^2)`` and the phase of the stronger component.
    reference : (y, x), optional
        Pixel taken as phase 0 (see :func:`vibmag.analysis.shape_phase`).
    min_magnitude : float
        The phase is left blank where the magnitude is below this fraction
        of its maximum (phase of no motion is noise).

    Returns
    -------
    dict
        ``magnitude`` and ``phase``: AxesImage; ``colorbars``: their colorbars.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> c = xr.DataArray(np.ones((2, 3, 4)) * (1 + 1j), dims=("component", "y", "x"),
    ...                  coords={"component": ["x", "y"]}, attrs={"units": "px"})
    >>> drawn = plot_deflection_shape(c, ax=Figure().subplots(1, 2))
    >>> float(drawn["magnitude"].get_array().max()), float(drawn["phase"].get_array().max())
    (2.0, 45.0)
    """
    ax_mag, ax_phase = ax if ax is not None else _new_axes(1, 2)
    if component is None:
        energy = (abs(shape) ** 2).sum(("y", "x"))
        strongest = shape["component"].values[int(np.argmax(energy.values))]
        magnitude = np.sqrt((abs(shape) ** 2).sum("component")).assign_attrs(shape.attrs)
        phase = shape_phase(shape, reference=reference).sel(component=strongest)
        title = f"phase of {strongest}"
    else:
        magnitude = shape_magnitude(shape.sel(component=component))
        phase = shape_phase(shape, reference=reference).sel(component=component)
        title = f"phase of {component}"
    blank = magnitude.values < min_magnitude * float(magnitude.max())
    units = shape.attrs.get("units", "1")
    mag_image = _show(ax_mag, magnitude.values, magnitude, cmap="viridis")
    phase_image = _show(ax_phase, np.where(blank, np.nan, phase.values), phase, cmap="twilight", vmin=-180, vmax=180)
    frequency = _short_frequency(shape.attrs.get("frequency", ""))
    ax_mag.set_title(f"magnitude {frequency}".strip())
    ax_phase.set_title(f"{title} {frequency}".strip())
    colorbars = [ax_mag.figure.colorbar(mag_image, ax=ax_mag, label=f"amplitude [{units}]", **_colorbar_place(magnitude)),
                 ax_phase.figure.colorbar(phase_image, ax=ax_phase, label="phase [deg]", **_colorbar_place(magnitude))]
    return {"magnitude": mag_image, "phase": phase_image, "colorbars": colorbars}


def plot_motion_map(field: xr.DataArray, *, ax=None, background=None, pixel_size_mm: float | None = None,
                    cmap: str = "magma", opacity: float = 0.8, robust: float | None = 99.5, mask=None) -> dict:
    """A map of how much the frame moves (e.g. RMS or peak-to-peak displacement) over a frame in grey.

    Parameters
    ----------
    field : xarray.DataArray, dims ("component", "y", "x") or ("y", "x")
        E.g. the ``rms`` map of :func:`vibmag.pipeline.survey`; with a
        ``component`` dim the length of the motion vector is shown.
    ax : matplotlib.axes.Axes, optional
    background : array-like (y, x), optional
        A frame drawn in grey underneath (e.g. the first frame).
    pixel_size_mm : float, optional
        Pixel size on the object: the colour bar gets a second scale in mm
        (for a field in px).
    cmap : str
        Colour map of the field.
    opacity : float
        Opacity of the field over the background.
    robust : float, optional
        Percentile of the field shown as the top colour (a few wild pixels,
        e.g. where the texture leaves the flow ill-determined, then do not
        wash out the rest); None: the largest value.
    mask : array-like of bool (y, x), optional
        Where the field is shown (e.g. where the motion can be measured);
        elsewhere only the background, and the colour scale is set from
        inside the mask.

    Returns
    -------
    dict
        ``image`` (AxesImage of the field), ``background`` (AxesImage or None),
        ``colorbar``, ``mm_axis`` (the colour bar's mm scale or None).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> rms = xr.DataArray(np.stack([np.full((4, 6), 3.0), np.full((4, 6), 4.0)]), dims=("component", "y", "x"),
    ...                    attrs={"units": "px", "long_name": "RMS displacement"})
    >>> drawn = plot_motion_map(rms, ax=Figure().subplots(), pixel_size_mm=0.1)
    >>> float(drawn["image"].get_array().max()), drawn["colorbar"].ax.get_ylabel()
    (5.0, 'RMS displacement [px]')
    """
    ax = _axes(ax)
    magnitude = np.sqrt((field**2).sum("component")) if "component" in field.dims else field
    magnitude = magnitude.transpose("y", "x")
    back = None if background is None else _show(ax, np.asarray(background, dtype=float), magnitude, cmap="gray")
    values = np.asarray(magnitude.values, dtype=float)
    if mask is not None:
        values = np.where(np.asarray(mask, dtype=bool), values, np.nan)
    top = float(np.nanpercentile(values, robust)) if robust is not None and np.isfinite(values).any() else None
    image = _show(ax, values, magnitude, cmap=cmap, alpha=opacity if background is not None else None,
                  vmax=top if top and top > 0 else None)
    units = field.attrs.get("units", "px")
    place = _colorbar_place(magnitude)
    colorbar = ax.figure.colorbar(image, ax=ax, label=f"{field.attrs.get('long_name', 'displacement')} [{units}]", **place)
    mm_axis = None
    if pixel_size_mm and units == "px":
        size, scale = float(pixel_size_mm), (lambda v: v * size, lambda v: v / size)
        if place:
            mm_axis = colorbar.ax.secondary_xaxis("top", functions=scale)
            mm_axis.set_xlabel("[mm]")
        else:
            mm_axis = colorbar.ax.secondary_yaxis("left", functions=scale)
            mm_axis.set_ylabel("[mm]")
    return {"image": image, "background": back, "colorbar": colorbar, "mm_axis": mm_axis}


def flow_to_rgb(flow, *, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a displacement field: hue = direction, saturation = magnitude.

    Parameters
    ----------
    flow : array-like or xarray.DataArray, shape (2, y, x)
        Components (x, y), y down.
    max_magnitude : float, optional
        Magnitude shown fully saturated; default: the field's largest.

    Returns
    -------
    numpy.ndarray, shape (y, x, 3), float in [0, 1]
        White where nothing moves; right = red, down = yellow-green, left =
        cyan, up = violet (hue turns clockwise on screen with the direction).

    Examples
    --------
    >>> import numpy as np
    >>> flow_to_rgb(np.array([[[1.0, 0.0]], [[0.0, 0.0]]]))[0].tolist()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    dx, dy = np.asarray(flow, dtype=float)
    magnitude = np.hypot(dx, dy)
    top = float(magnitude.max()) if max_magnitude is None else float(max_magnitude)
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    saturation = np.clip(magnitude / top, 0.0, 1.0) if top > 0 else np.zeros_like(magnitude)
    return hsv_to_rgb(np.stack([hue, saturation, np.ones_like(hue)], axis=-1))


def plot_flow(flow: xr.DataArray, *, ax=None, kind: str = "color", step: int | None = None,
              scale: float | None = None, max_magnitude: float | None = None, background=None,
              key: bool = True) -> dict:
    """One displacement field as a colour image or as arrows.

    Parameters
    ----------
    flow : xarray.DataArray, dims ("component", "y", "x")
        One frame of displacement, e.g. ``disp.isel(time=10)``.
    ax : matplotlib.axes.Axes, optional
    kind : {"color", "arrows"}
        "color": :func:`flow_to_rgb` image, with a colour-wheel key in the
        corner (``key``). "arrows": a quiver every ``step`` pixels.
    step : int, optional
        Arrow spacing in pixels; default: about 24 arrows across the frame.
    scale : float, optional
        Arrows are drawn ``scale`` times longer than the displacement;
        default: the longest arrow spans ``step`` pixels.
    max_magnitude : float, optional
        For "color": magnitude shown fully saturated (default: the largest).
    background : array-like (y, x), optional
        For "arrows": a frame drawn in grey underneath.
    key : bool
        For "color": draw the colour wheel as an inset.

    Returns
    -------
    dict
        "color": ``image`` (AxesImage) and ``key`` (inset Axes or None);
        "arrows": ``quiver`` (Quiver) and ``background`` (AxesImage or None).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> flow = xr.DataArray(np.ones((2, 8, 8)), dims=("component", "y", "x"), coords={"component": ["x", "y"]})
    >>> drawn = plot_flow(flow, kind="arrows", step=4, ax=Figure().subplots())
    >>> drawn["quiver"].U.tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    if "time" in flow.dims or set(flow.dims) != {"component", "y", "x"}:
        raise AnalysisError(f"plot_flow draws one frame with dims (component, y, x), got dims {flow.dims}; "
                            "select one, e.g. disp.isel(time=10)")
    flow = flow.transpose("component", "y", "x")
    xy = flow.sel(component=["x", "y"]).values if "component" in flow.coords else flow.values
    ax = _axes(ax)
    if kind == "color":
        image = _show(ax, flow_to_rgb(xy, max_magnitude=max_magnitude), flow)
        return {"image": image, "key": _wheel_key(ax) if key else None}
    if kind != "arrows":
        raise AnalysisError(f"kind must be 'color' or 'arrows', got {kind!r}")
    back = None if background is None else _show(ax, np.asarray(background, dtype=float), flow, cmap="gray")
    y, x = (np.asarray(flow[d].values, dtype=float) if d in flow.coords else np.arange(flow.sizes[d], dtype=float)
            for d in ("y", "x"))
    step = step or max(1, max(len(y), len(x)) // 24)
    rows, cols = slice(step // 2, None, step), slice(step // 2, None, step)
    dx, dy = xy[0][rows, cols], xy[1][rows, cols]
    longest = float(np.hypot(dx, dy).max())
    scale = scale or (step / longest if longest > 0 else 1.0)
    gx, gy = np.meshgrid(x[cols], y[rows])
    quiver = ax.quiver(gx, gy, dx, dy, angles="xy", scale_units="xy", scale=1.0 / scale, color="tab:red")
    if back is None:
        ax.set_xlim(x.min() - 0.5, x.max() + 0.5)
        ax.set_ylim(y.max() + 0.5, y.min() - 0.5)
        ax.set_aspect("equal")
    ax.set_title(f"displacement x{scale:.3g}")
    _pixel_labels(ax, flow)
    return {"quiver": quiver, "background": back}


def plot_orbit(orbit, *, ax=None) -> dict:
    """The path of a point: y against x displacement, y down like the image.

    Parameters
    ----------
    orbit : xarray.Dataset with variables "x", "y", or xarray.DataArray (time, component)
        From :func:`vibmag.analysis.orbit` (or a waveform).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    dict
        ``line``: the orbit (Line2D); ``start``: a marker at the first sample.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matplotlib.figure import Figure
    >>> path = xr.Dataset({"x": ("time", [0.0, 1.0, 0.0]), "y": ("time", [1.0, 0.0, -1.0])})
    >>> plot_orbit(path, ax=Figure().subplots())["line"].get_ydata().tolist()
    [1.0, 0.0, -1.0]
    """
    if isinstance(orbit, xr.DataArray):
        orbit = orbit.to_dataset("component")
    ax = _axes(ax)
    x, y = (np.asarray(orbit[c].values, dtype=float) for c in ("x", "y"))
    line = ax.plot(x, y)[0]
    start = ax.plot(x[:1], y[:1], "o", color=line.get_color())[0]
    units = orbit["x"].attrs.get("units", "px")
    ax.set_xlabel(f"x [{units}]")
    ax.set_ylabel(f"y [{units}] (down)")
    ax.set_aspect("equal", adjustable="datalim")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    return {"line": line, "start": start}


def _new_axes(rows: int = 1, cols: int = 1):
    """A new pyplot figure's axes (pyplot only here, so notebooks display it)."""
    import matplotlib.pyplot as plt  # here, not at the top: importing pyplot picks a GUI backend, which library users may not want

    return plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), layout="constrained")[1]


def _axes(ax):
    return _new_axes() if ax is None else ax


def _columns(da: xr.DataArray, along: str) -> list[tuple[str, np.ndarray]]:
    """(label, values) per series of a 1- or 2-dim DataArray, ``along`` first."""
    if da.ndim == 1:
        return [(str(da.name or ""), np.asarray(da.values, dtype=float))]
    if da.ndim != 2:
        raise AnalysisError(f"expected dims ({along!r},) or ({along!r}, 'component'), got {da.dims}")
    other = next(d for d in da.dims if d != along)
    da = da.transpose(along, other)
    labels = da[other].values if other in da.coords else range(da.sizes[other])
    return [(str(label), np.asarray(da.values[:, i], dtype=float)) for i, label in enumerate(labels)]


def _value_label(da: xr.DataArray, default: str) -> str:
    return f"{da.attrs.get('long_name', default)} [{da.attrs.get('units', '1')}]"


def _frequency_factor(from_unit: str, to_unit: str) -> float:
    """Multiplier from ``from_unit`` to ``to_unit`` (exactly 60 for Hz -> rpm)."""
    if from_unit == to_unit:
        return 1.0
    if (from_unit, to_unit) == ("Hz", "rpm"):
        return 60.0
    return float(ureg.Quantity(1.0, from_unit).to(to_unit).magnitude)


def _short_frequency(text: str) -> str:
    """A frequency attr such as "17.1774172747 Hz" with 4 significant digits ("17.18 Hz")."""
    try:
        return f"{float(ureg.Quantity(text).to('Hz').magnitude):.4g} Hz" if text else ""
    except Exception:  # noqa: BLE001 - any attr pint cannot read is shown as it is
        return str(text)


def _colorbar_place(grid: xr.DataArray) -> dict:
    """Colour bars of frames at least four times wider than tall go below them, horizontal."""
    return {"location": "bottom", "aspect": 50, "pad": 0.05} if grid.sizes["x"] >= 4 * grid.sizes["y"] else {}


def _show(ax, image: np.ndarray, grid: xr.DataArray, **options):
    """imshow on the frame grid: pixel centres at the y/x coordinates, y down."""
    y, x = (np.asarray(grid[d].values, dtype=float) if d in grid.coords else np.arange(grid.sizes[d], dtype=float)
            for d in ("y", "x"))
    extent = (x.min() - 0.5, x.max() + 0.5, y.max() + 0.5, y.min() - 0.5)
    shown = ax.imshow(image, extent=extent, origin="upper", interpolation="nearest", **options)
    _pixel_labels(ax, grid)
    return shown


def _pixel_labels(ax, grid: xr.DataArray) -> None:
    ax.set_xlabel(f"x [{grid['x'].attrs.get('units', 'px') if 'x' in grid.coords else 'px'}]")
    ax.set_ylabel(f"y [{grid['y'].attrs.get('units', 'px') if 'y' in grid.coords else 'px'}]")


def _wheel_key(ax, size: int = 64):
    """An inset showing which colour means which direction."""
    inset = ax.inset_axes([0.78, 0.78, 0.2, 0.2])
    r = np.linspace(-1, 1, size)
    dx, dy = np.meshgrid(r, r)
    rgb = flow_to_rgb(np.stack([dx, dy]), max_magnitude=1.0)
    rgb[np.hypot(dx, dy) > 1] = 1.0
    inset.imshow(rgb, origin="upper", extent=(-1, 1, 1, -1))
    inset.set_axis_off()
    return inset
