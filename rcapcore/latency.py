"""Latency data both sides read and write: rcap's µs HdrHistogram layout, its text encoding in
``latency.jsonl`` (the ``hdr`` field), the kinds of record, and exact percentiles of a histogram.

The load generator (``loadgen.histograms``, ``loadgen.recorder.summary``) writes with it, the analysis
(``analysis.runs``, ``analysis.compare``, ``analysis.hdrlog``) reads with it: one definition of the format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
"""Smallest trackable latency, µs."""
HIGHEST_US = 60_000_000
"""Largest trackable latency, µs (60 s); longer samples are clamped to it."""
SIGNIFICANT_DIGITS = 3

MEASURED = "measured"
CORRECTED = "corrected"
KINDS = (MEASURED, CORRECTED)
GENERATOR = "generator"
"""Kind of the load generator's own scheduling lag (op :data:`GENERATOR_LAG_OP`): not a request."""
GENERATOR_LAG_OP = "generator lag"


def new_histogram() -> HdrHistogram:
    """An empty µs histogram with rcap's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def histogram_from_counts(counts: dict[int, int]) -> HdrHistogram:
    """Build a histogram from exact ``{latency_us: count}``."""
    hist = new_histogram()
    for value, count in counts.items():
        hist.record_value(min(max(value, LOWEST_US), HIGHEST_US), count)
    return hist


def encode(hist: HdrHistogram) -> str:
    """Compressed, base64 HdrHistogram V2 encoding (what ``latency.jsonl`` stores in ``hdr``)."""
    return hist.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    """Inverse of :func:`encode`."""
    return HdrHistogram.decode(text.encode("ascii"))


def same_histogram(a: HdrHistogram, b: HdrHistogram) -> bool:
    """True when both hold the same count at every recorded value."""
    return a.get_total_count() == b.get_total_count() and _recorded(a) == _recorded(b)


def _recorded(hist: HdrHistogram) -> list[tuple[int, int]]:
    return [(item.value_iterated_to, item.count_at_value_iterated_to) for item in hist.get_recorded_iterator()]


PERCENTILES = {"p50_us": 50.0, "p90_us": 90.0, "p99_us": 99.0, "p999_us": 99.9}


def latency_stats(hist: HdrHistogram) -> dict[str, float]:
    """Percentiles, max and mean of a µs histogram, in µs (the values hdrh's own methods give)."""
    total = hist.get_total_count()
    if total == 0:
        return {**{k: None for k in PERCENTILES}, "max_us": None, "mean_us": None}
    # vectorised over the counts array: hdrh's percentile and mean loops walk every bucket in Python
    # (≈4 ms per histogram, which made a 1-hour run's latency frame take over a minute)
    highest, median = bucket_values(hist)
    counts = bucket_counts(hist)
    nz = np.flatnonzero(counts)
    cnt = counts[nz].astype(np.int64)
    cum = np.cumsum(cnt)
    targets = [max(int(p * total / 100 + 0.5), 1) for p in PERCENTILES.values()]
    at = nz[np.minimum(np.searchsorted(cum, targets, side="left"), len(nz) - 1)]
    out: dict[str, Any] = {k: int(highest[i]) for k, i in zip(PERCENTILES, at)}
    out["max_us"] = hist.get_max_value()
    out["mean_us"] = round(float(np.dot(cnt, median[nz])) / total, 1)
    return out


_WORD_DTYPES = {2: np.uint16, 4: np.uint32, 8: np.uint64}
_BUCKETS: dict[tuple[int, int, int, int], tuple[np.ndarray, np.ndarray]] = {}


def bucket_counts(hist: HdrHistogram) -> np.ndarray:
    """The histogram's counts array (one count per bucket index) as a numpy view, no copy."""
    return np.frombuffer(hist.counts, dtype=_WORD_DTYPES[hist.word_size])[: hist.counts_len]


def bucket_values(hist: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """Per counts index: highest equivalent value (what hdrh reports for a percentile) and median
    equivalent value (what its mean weights a bucket by), in µs; cached per histogram layout."""
    key = (hist.counts_len, hist.sub_bucket_half_count_magnitude, hist.sub_bucket_half_count, hist.unit_magnitude)
    cached = _BUCKETS.get(key)
    if cached is None:
        n, magnitude, half, unit = key
        idx = np.arange(n, dtype=np.int64)
        bucket = (idx >> magnitude) - 1
        sub = (idx & (half - 1)) + half
        first = bucket < 0
        sub[first] -= half
        bucket[first] = 0
        lowest = sub << (bucket + unit)
        size = np.left_shift(np.int64(1), bucket + unit)
        cached = _BUCKETS[key] = (lowest + size - 1, (lowest + (size >> 1)).astype(np.float64))
    return cached


def read_latency_lines(path: Path) -> Iterator[dict]:
    """The complete lines of a ``latency.jsonl`` (a torn last line, from an interruption, is skipped)."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
