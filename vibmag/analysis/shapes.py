"""Operating deflection shapes: the complex amplitude of motion at one frequency, per pixel.

Convention
----------
At frequency ``f`` every pixel's motion is ``x(t) ~ Re(c exp(2 pi i f t))``
with ``t`` the ``time`` coordinate (s): ``|c|`` is the peak amplitude (the
value :func:`vibmag.spectrum` reads for that pixel) and ``angle(c)`` the phase
of a cosine at ``t = 0``. ``c`` is estimated with the same window as the
spectra (Hann by default, normalised so a sinusoid at exactly ``f`` gives its
amplitude): a single-frequency Fourier transform, so ``f`` need not lie on a
bin. Pass the refined peak frequency of :func:`vibmag.analysis.find_peaks`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..units import format_quantity, frequency_hz
from ._labels import accepts_quantified, over_time, require_dims, require_finite, sampling_rate_hz
from .errors import AnalysisError, BandError
from .regions import point_index
from .spectra import window_array

__all__ = ["deflection_shape", "shape_sigma", "shape_magnitude", "shape_phase", "mac"]


@accepts_quantified
def deflection_shape(disp: xr.DataArray, frequency, *, window: str = "hann", uncertainty: xr.DataArray | None = None,
                     min_snr: float = 2.0) -> xr.DataArray:
    """Complex amplitude of the motion at ``frequency`` at every pixel (operating deflection shape).

    Parameters
    ----------
    disp : xarray.DataArray, dims ("time", "component", "y", "x")
        Displacement in px or mm (or any data with a ``time`` dim).
    frequency : str or pint.Quantity
        E.g. ``"24.5 Hz"``, ``"1470 rpm"``; ``0 < frequency < Nyquist``.
    window : str
        SciPy window name; "hann" (default) suppresses leakage from other modes.
    uncertainty : xarray.DataArray, optional
        The displacement's 1-sigma frame-to-frame noise, same dims: the
        ``noise`` of ``estimate_displacement(..., return_uncertainty=True)``
        (its ``uncertainty`` also holds the reference frame's fixed offset and
        the motion-model error, which are no noise at ``frequency``). Where
        given, samples whose ``|c|`` is within ``min_snr`` times its own sigma
        (:func:`shape_sigma`) are NaN: indistinguishable from noise.
    min_snr : float
        See ``uncertainty`` (default 2: the amplitude within 2 sigma of 0).

    Returns
    -------
    xarray.DataArray, dims ("component", "y", "x"), complex128
        ``c`` of the module docstring, in the displacement's units; name
        "deflection_shape", attrs ``frequency`` (e.g. "24.5 Hz") plus the
        input's (and ``min_snr`` where masked). Lazy (dask) when the input is.

    Raises
    ------
    BandError
        If the frequency is not between 0 and Nyquist.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(1000) / 1000.0
    >>> shape = np.array([1.0, -0.5])  # two pixels moving in anti-phase
    >>> x = xr.DataArray(np.cos(2 * np.pi * 30.3 * t)[:, None] * shape, dims=("time", "x"),
    ...                  coords={"time": t}, attrs={"units": "px"})
    >>> c = deflection_shape(x, "30.3 Hz")
    >>> np.round(c.values, 3)
    array([ 1. +0.j, -0.5-0.j])
    """
    fs = sampling_rate_hz(disp, "deflection_shape")
    hz = frequency_hz(frequency)
    if not 0 < hz < fs / 2:
        raise BandError(f"deflection_shape: frequency = {hz:.6g} Hz must lie between 0 Hz and the Nyquist "
                        f"frequency {fs / 2:.6g} Hz")
    taper = window_array(window, disp.sizes["time"])
    t = np.asarray(disp["time"].values, dtype=float) if "time" in disp.coords else np.arange(disp.sizes["time"]) / fs
    demodulator = 2.0 * taper * np.exp(-2j * np.pi * hz * t) / taper.sum()
    shape = over_time(_complex_amplitude, disp, output_dim=None, dtype=np.complex128, demodulator=demodulator)
    shape = shape.rename("deflection_shape").assign_attrs(
        frequency=format_quantity(hz, "Hz"), long_name="deflection shape (complex amplitude)")
    if uncertainty is None:
        return shape
    masked = shape.where(np.abs(shape) >= min_snr * shape_sigma(uncertainty, window=window)).assign_attrs(shape.attrs)
    return masked.assign_attrs(min_snr=float(min_snr))


def shape_sigma(uncertainty: xr.DataArray, *, window: str = "hann") -> xr.DataArray:
    """1-sigma of each quadrature of a deflection shape's ``c``, from the displacement's uncertainty.

    For independent errors of sigma ``s_t`` per sample, ``c = sum d_t x_t`` with
    ``d_t = 2 w_t exp(-2 pi i f t) / sum(w)`` has, in its real and its imaginary
    part, the standard deviation ``sqrt(2 sum w_t^2 s_t^2) / sum(w)``
    (``s sqrt(2 ENBW / N)`` for a constant ``s``): also about the sigma of
    ``|c|`` where the motion stands above the noise.

    Parameters
    ----------
    uncertainty : xarray.DataArray, with a ``time`` dim
        1-sigma per sample (px or mm).
    window : str
        The window :func:`deflection_shape` used.

    Returns
    -------
    xarray.DataArray
        ``uncertainty``'s dims without ``time``, its units.
    """
    taper = window_array(window, uncertainty.sizes["time"])
    weights = xr.DataArray(taper**2, dims="time")
    variance = (uncertainty.astype(float) ** 2 * weights).sum("time", skipna=False)
    return (np.sqrt(2.0 * variance) / taper.sum()).assign_attrs(units=uncertainty.attrs.get("units", "px"),
                                                               long_name="deflection shape sigma")


def shape_magnitude(shape: xr.DataArray) -> xr.DataArray:
    """Peak amplitude ``|c|`` of a deflection shape, in its units.

    Examples
    --------
    >>> import xarray as xr
    >>> float(shape_magnitude(xr.DataArray([3 + 4j], dims="x", attrs={"units": "px"}))[0])
    5.0
    """
    return xr.apply_ufunc(np.abs, shape, dask="allowed", keep_attrs=True).rename("magnitude").assign_attrs(
        long_name="amplitude")


def shape_phase(shape: xr.DataArray, *, reference=None) -> xr.DataArray:
    """Phase of a deflection shape in degrees, in (-180, 180].

    Parameters
    ----------
    shape : xarray.DataArray, complex
        From :func:`deflection_shape`.
    reference : (y, x), optional
        A pixel whose motion (its larger component) is taken as phase 0.
        Default: phase of a cosine at ``t = 0``.

    Returns
    -------
    xarray.DataArray
        Same dims as ``shape``, units "deg".

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> c = xr.DataArray(np.array([[1j, -1j]]), dims=("y", "x"))
    >>> np.round(shape_phase(c, reference=(0, 0)).values, 9)
    array([[  0., 180.]])
    """
    attrs = {**shape.attrs, "units": "deg", "long_name": "phase"}
    if reference is not None:
        require_dims(shape, ("y", "x"), "shape_phase")
        iy, ix = point_index(shape, reference)
        at_reference = np.ravel(np.asarray(shape.isel(y=iy, x=ix).values))
        shape = shape * np.exp(-1j * np.angle(at_reference[np.argmax(np.abs(at_reference))]))
    degrees = np.angle(np.asarray(shape.values), deg=True)
    degrees = np.where(degrees <= -180.0 + 1e-9, degrees + 360.0, degrees)
    return xr.DataArray(degrees, dims=shape.dims, coords=shape.coords, name="phase", attrs=attrs)


def mac(a, b) -> float:
    """Modal assurance criterion of two shapes: ``|a^H b|^2 / ((a^H a)(b^H b))``, in [0, 1].

    1 when the shapes are proportional (any complex factor), 0 when orthogonal.
    DataArrays are matched by dim name; arrays must have the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> round(mac(np.array([1.0, 2.0, -1.0]), np.array([-2.0, -4.0, 2.0]) * 1j), 12)
    1.0
    """
    if isinstance(a, xr.DataArray) and isinstance(b, xr.DataArray):
        b = b.transpose(*a.dims)
    a, b = np.ravel(np.asarray(a)), np.ravel(np.asarray(b))
    if a.shape != b.shape:
        raise AnalysisError(f"mac needs shapes of the same size, got {a.size} and {b.size} values")
    return float(np.abs(np.vdot(a, b)) ** 2 / (np.vdot(a, a).real * np.vdot(b, b).real))


def _complex_amplitude(x: np.ndarray, *, demodulator: np.ndarray) -> np.ndarray:
    """Core: complex amplitude along the last axis, mean removed first."""
    require_finite(x, "deflection_shape")
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean(axis=-1, keepdims=True)) @ demodulator
