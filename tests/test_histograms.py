"""µs histograms: exact recording per second, encode/decode, merging across processes, Locust stats."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from loadgen import histograms as h
from rcapcore import latency
from rcapcore.rundata import append_jsonl


def _samples(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [max(1, int(rng.lognormvariate(4.5, 1.2))) for _ in range(n)]  # ~90 µs median, long tail


def _second(t: int, op: str, values: list[int], errors: int = 0) -> h.SecondCounts:
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return h.SecondCounts(t, {op: counts}, {}, {op: errors} if errors else {})


def test_merging_two_workers_equals_one_process_recording_the_same_samples():
    values = _samples(20_000, 1)
    worker_a, worker_b = values[::2], values[1::2]
    merger = h.HistogramMerger()
    merger.add("a", 101, _second(100, "GET", worker_a, errors=2).records())
    merger.add("b", 101, _second(100, "GET", worker_b, errors=3).records())
    (merged,) = merger.release(["a", "b"])

    single = latency.new_histogram()
    for v in values:
        single.record_value(v)
    assert merged["count"] == len(values)
    assert merged["errors"] == 5
    assert latency.same_histogram(latency.decode(merged["hdr"]), single)
    for q in (50, 90, 99, 99.9):
        assert latency.decode(merged["hdr"]).get_value_at_percentile(q) == single.get_value_at_percentile(q)


def test_merger_waits_for_every_live_source_before_releasing_a_second():
    merger = h.HistogramMerger()
    merger.add("a", 102, _second(100, "SET", [10, 20]).records() + _second(101, "SET", [30]).records())
    assert merger.release(["a", "b"]) == []  # b has not reported yet
    merger.add("b", 101, _second(100, "SET", [40]).records())
    released = merger.release(["a", "b"])
    assert [(r["t"], r["count"]) for r in released] == [(100, 3)]  # 101 waits for b's watermark
    assert [(r["t"], r["count"]) for r in merger.release(final=True)] == [(101, 1)]


def test_microsecond_resolution_and_range():
    hist = latency.histogram_from_counts({57: 1, 1234: 1, 120_000_000: 1})  # last one beyond 60 s: clamped
    assert hist.get_min_value() == 57
    assert abs(hist.get_value_at_percentile(60) - 1234) <= 1234 * 10 ** -latency.SIGNIFICANT_DIGITS
    assert hist.get_max_value() >= latency.HIGHEST_US * (1 - 10 ** -latency.SIGNIFICANT_DIGITS)
    back = latency.decode(latency.encode(hist))
    assert latency.same_histogram(back, hist)


def test_recorder_separates_seconds_ops_kinds_and_errors(monkeypatch):
    clock = [1000.2]
    monkeypatch.setattr(h, "_time", lambda: clock[0])
    rec = h.LatencyRecorder()
    rec.record("GET", 50)
    rec.record("GET", 70, corrected_us=900)
    rec.record_error("GET")
    clock[0] = 1001.5
    rec.record("SET", 80)
    upto, seconds = rec.drain()
    assert upto == 1001 and [s.t for s in seconds] == [1000]
    records = h.to_records(seconds)
    kinds = {(r["op"], r["kind"]): r for r in records}
    assert kinds[("GET", "measured")]["count"] == 2 and kinds[("GET", "measured")]["errors"] == 1
    assert kinds[("GET", "corrected")]["count"] == 1
    assert latency.decode(kinds[("GET", "corrected")]["hdr"]).get_max_value() >= 900
    upto, seconds = rec.drain(final=True)
    assert [s.t for s in seconds] == [1001] and "SET" in seconds[0].measured
    assert set(json.loads(json.dumps(records[0]))) == {"t", "op", "kind", "count", "errors", "hdr"}


FEED_CHECK = """
import json, random, sys
from locust.stats import RequestStats
from loadgen import histograms as h
rng = random.Random(2)
values = [max(1, int(rng.lognormvariate(4.5, 1.2))) for _ in range(5000)]
counts = {}
for v in values:
    counts[v] = counts.get(v, 0) + 1
bulk = RequestStats()
h.feed_locust_stats(bulk, [h.SecondCounts(200, {"GET": counts}, {}, {})], "redis")
one = RequestStats()
for v in values:
    one.log_request("redis", "GET", v / 1000.0, 0)
a, b = bulk.get("GET", "redis"), one.get("GET", "redis")
print(json.dumps({
    "n": [a.num_requests, b.num_requests, bulk.total.num_requests, a.num_reqs_per_sec[200]],
    "buckets_equal": a.response_times == b.response_times,
    "total_ms": [a.total_response_time, b.total_response_time],
    "minmax": [a.min_response_time, b.min_response_time, a.max_response_time, b.max_response_time],
    "p99": [a.get_response_time_percentile(0.99), b.get_response_time_percentile(0.99)],
}))
"""


def test_feeding_locust_stats_matches_per_request_logging():
    # in a child process: importing locust monkey-patches the interpreter (gevent)
    out = subprocess.run([sys.executable, "-c", FEED_CHECK], capture_output=True, text=True, timeout=60, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["n"] == [5000, 5000, 5000, 5000]
    assert r["buckets_equal"]
    assert abs(r["total_ms"][0] - r["total_ms"][1]) < 1e-6 * r["total_ms"][1]
    assert r["minmax"][0] == r["minmax"][1] and r["minmax"][2] == r["minmax"][3]
    assert r["p99"][0] == r["p99"][1]


def test_append_jsonl_writes_one_object_per_line(tmp_path):
    path = tmp_path / "run" / "latency.jsonl"
    append_jsonl(str(path), _second(5, "GET", [1, 2, 3]).records())
    append_jsonl(str(path), _second(6, "GET", [4]).records())
    lines = path.read_text().splitlines()
    assert [json.loads(x)["t"] for x in lines] == [5, 6]
