"""survey() and dominant_band() against a synthetic plate with known modes and drift."""

import pytest

from vibmag.analysis import AnalysisError
from vibmag.survey import dominant_band, survey
from vibmag.synthetic import Mode, vibrating_plate
from vibmag.units import frequency_hz


@pytest.fixture(scope="module")
def plate_survey():
    """Modes at 125 Hz (0.3 px) and 312.5 Hz (0.1 px) plus a drift of 1.3 px over the record."""
    ds = vibrating_plate((48, 48), n_frames=64, frame_rate="1 kHz",
                         modes=[Mode("125 Hz", 0.3), Mode("312.5 Hz", 0.1, direction=0)], drift=(20.0, 0.0))
    return survey(ds, progress=False)


def test_peaks_at_the_true_mode_frequencies(plate_survey):
    found = sorted(float(f) for f in plate_survey["peak_frequency"].values)
    assert any(abs(f - 125.0) < 1.0 for f in found)
    assert any(abs(f - 312.5) < 1.0 for f in found)


def test_dominant_band_skips_drift_and_holds_the_strongest_mode(plate_survey):
    # the drift's ramp makes the largest "peak" of all at the first bin (15.6 Hz)
    assert float(plate_survey["peak_frequency"].isel(peak=0)) < 20.0
    low, high = (frequency_hz(edge) for edge in dominant_band(plate_survey))
    assert low < 125.0 < high < 312.5
    assert (low, high) == pytest.approx((125.0 * 0.75, 125.0 * 1.25))


def test_dominant_band_min_frequency_moves_to_the_next_mode(plate_survey):
    low, high = (frequency_hz(edge) for edge in dominant_band(plate_survey, min_frequency="200 Hz", relative_width=0.1))
    assert low < 312.5 < high


def test_no_peak_above_min_frequency_is_a_clear_error(plate_survey):
    with pytest.raises(AnalysisError, match="no spectral peak above 480 Hz"):
        dominant_band(plate_survey, min_frequency="480 Hz")
