"""vibmag.streaming.TemporalStore: tiles on disk, filtered in threads, equal to filtering the whole array."""

import threading

import numpy as np
import pytest

from vibmag.analysis.filters import band_filter
from vibmag.errors import CancelledError
from vibmag.streaming import TemporalStore


@pytest.fixture
def series():
    """(200 time, 1000 features) float32: two sinusoids (25 Hz in band, 90 Hz out) plus noise, at 500 Hz."""
    rng = np.random.default_rng(0)
    t = np.arange(200)[:, None] / 500.0
    phases = rng.uniform(0, 2 * np.pi, (2, 1000))
    values = np.sin(2 * np.pi * 25 * t + phases[0]) + 0.5 * np.sin(2 * np.pi * 90 * t + phases[1])
    return (values + 0.01 * rng.standard_normal(values.shape)).astype(np.float32)


def _stored(values, block_bytes):
    store = TemporalStore(*values.shape, block_bytes=block_bytes)
    store.write(0, values[:120])
    store.write(120, values[120:])
    return store


def test_write_read_round_trip_over_tiles(series):
    with _stored(series, block_bytes=8 * 200 * 64) as store:  # 64 features per tile: 16 tiles, the last partial
        assert store.tile == 64
        np.testing.assert_array_equal(store.read(0, 200), series)
        np.testing.assert_array_equal(store.read(37, 81), series[37:81])


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_threaded_filter_equals_the_filter_of_the_whole_array(series, threads):
    temporal = band_filter(15.0, 35.0, 500.0)
    expected = temporal(series.astype(np.float64)).astype(np.float32)
    with _stored(series, block_bytes=8 * 200 * 64) as store:
        store.filter(temporal, threads=threads)
        np.testing.assert_array_equal(store.read(0, 200), expected)
    # the band keeps the 25 Hz sinusoid (unit amplitude) and removes the 90 Hz one: the truth the filter is held to
    middle = expected[50:150]
    assert np.sqrt(2 * (middle**2).mean()) == pytest.approx(1.0, abs=0.05)


def test_a_tiles_error_reaches_the_caller(series):
    def failing(block):
        if block.shape[1] < 64:  # the last, partial tile
            raise ValueError("bad tile")
        return block

    with _stored(series, block_bytes=8 * 200 * 64) as store, pytest.raises(ValueError, match="bad tile"):
        store.filter(failing, threads=2)


def test_cancelled_filter_raises_and_stops(series):
    cancel = threading.Event()
    calls = []

    def cancelling(block):
        calls.append(block.shape)
        cancel.set()
        return block

    with _stored(series, block_bytes=8 * 200 * 64) as store, pytest.raises(CancelledError):
        store.filter(cancelling, cancel=cancel, threads=2)
    assert len(calls) <= 2  # at most the tiles already running when the cancellation came
