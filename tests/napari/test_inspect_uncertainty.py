"""The Inspect peak table's uncertainty: amplitude sigma and SNR at a point or over a region."""

from __future__ import annotations

import numpy as np
import pytest

import vibmag
from vibmag.analysis.spectra import SNR_MIN
from vibmag.napari import _compute


def test_inspect_peaks_carry_sigma_and_snr_from_the_uncertainty(clip, mode):
    hz, _ = mode
    measured = vibmag.estimate_displacement(clip.assign_attrs(pixel_size="0.1 mm"), return_uncertainty=True)
    disp, sigma = measured["displacement"], measured["noise"]
    at_point = _compute.inspect(disp, point=(32, 30), uncertainty=sigma)
    top = at_point.peaks.isel(peak=0)
    assert float(top["frequency"]) == pytest.approx(hz, abs=1.0) and float(top["snr"]) > SNR_MIN
    # the point's noise is its own frame-to-frame noise, RMS over time
    expected = float(np.sqrt((sigma.sel(y=32, x=30) ** 2).mean("time")).sel(component="y"))
    n = disp.sizes["time"]
    assert float(top["amplitude_sigma"].sel(component="y")) == pytest.approx(
        expected * np.sqrt(2 * 1.5 / n), rel=0.05)  # Hann: ENBW 1.5 bins; the peak-offset gain moves it < 5 %
    in_mm = _compute.inspect(disp, point=(32, 30), uncertainty=sigma, units="mm")
    np.testing.assert_allclose(in_mm.peaks["amplitude_sigma"].values, 0.1 * at_point.peaks["amplitude_sigma"].values)
    mask = np.zeros(disp.shape[-2:], bool)
    mask[20:40, 20:40] = True
    over_region = _compute.inspect(disp, region=mask, uncertainty=sigma)
    assert float(over_region.peaks["snr"][0]) > SNR_MIN
    # the motion-model error adds the amplitudes' systematic part in quadrature, at the point and over the region
    for where in ({"point": (32, 30)}, {"region": mask}):
        plain = _compute.inspect(disp, uncertainty=sigma, **where).peaks
        full = _compute.inspect(disp, uncertainty=sigma, model_error=measured["model_error"], **where).peaks
        systematic = full["amplitude_systematic"]
        assert bool((systematic >= 0).all()) and systematic.attrs["units"] == "px"
        np.testing.assert_allclose(full["amplitude_sigma"].values,
                                   np.hypot(plain["amplitude_sigma"].values, systematic.values), rtol=1e-12)
    without = _compute.inspect(disp, region=mask)  # the spectrum's own floor
    assert {"amplitude_sigma", "snr"} <= set(without.peaks.data_vars)
