"""The run summary's mean latency uses public hdrh calls only, and equals hdrh's own mean."""

import random

import pytest
from hdrh.histogram import HdrHistogram

from rcapcore.latency import latency_stats


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mean_equals_hdrh_get_mean_value(seed):
    rng = random.Random(seed)
    hist = HdrHistogram(1, 60_000_000, 3)
    for _ in range(20_000):  # µs, lognormal around 150 µs with a long tail reaching the large buckets
        hist.record_value(min(60_000_000, int(rng.lognormvariate(5, 1.5)) + 1))
    hist.record_value(59_999_999)
    assert latency_stats(hist)["mean_us"] == round(hist.get_mean_value(), 1)
