"""Deflection shapes with the displacement's uncertainty: sigma of c, and masking within 2 sigma."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vibmag.analysis.shapes import deflection_shape, shape_sigma

FS = 1000.0


def _field(n=1000, sigma=0.05, seed=0):
    t = np.arange(n) / FS
    shape = np.array([1.0, 0.3, 0.02, 0.0])  # pixels from clearly moving to still
    values = np.cos(2 * np.pi * 40.3 * t)[:, None] * shape + np.random.default_rng(seed).normal(0, sigma, (n, 4))
    disp = xr.DataArray(values, dims=("time", "x"), coords={"time": t}, attrs={"units": "px"})
    return disp, xr.full_like(disp, sigma)


def test_shape_sigma_is_the_scatter_of_c():
    draws = np.array([deflection_shape(_field(seed=s)[0], "40.3 Hz").values for s in range(200)])
    sigma = shape_sigma(_field()[1])
    assert sigma.dims == ("x",) and sigma.attrs["units"] == "px"
    np.testing.assert_allclose(draws.real.std(axis=0), sigma.values, rtol=0.2)
    np.testing.assert_allclose(draws.imag.std(axis=0), sigma.values, rtol=0.2)
    assert float(sigma[0]) == pytest.approx(0.05 * np.sqrt(2 * 1.5 / 1000), rel=0.01)  # Hann: ENBW 1.5 bins


def test_uncertainty_masks_what_stands_within_two_sigma():
    disp, uncertainty = _field()
    masked = deflection_shape(disp, "40.3 Hz", uncertainty=uncertainty)
    plain = deflection_shape(disp, "40.3 Hz")
    assert masked.attrs["min_snr"] == 2.0 and masked.attrs["frequency"] == plain.attrs["frequency"]
    # sigma is 0.0027 px: 1 and 0.3 px stand out, 0.02 px (7 sigma) too, the still pixel does not
    np.testing.assert_array_equal(np.isnan(masked.values), [False, False, False, True])
    np.testing.assert_allclose(masked.values[:3], plain.values[:3])
