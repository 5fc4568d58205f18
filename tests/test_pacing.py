"""Open-loop pacing: the schedule, the lag it reports, and the global target rate in a real run."""

from __future__ import annotations

import random
import time

import gevent
import pytest

from loadgen.pacing import Pacer, share
from locust_runner import read_latency, run_locust


def test_share_splits_the_global_rate_over_users():
    assert share(1000.0, 8) == 125.0
    assert share(None, 8) is None


def test_time_behind_a_slow_server_is_charged_and_the_schedule_does_not_slip():
    pacer = Pacer(1000.0, random.Random(1))  # 1 ms interval
    pacer.wait()
    gevent.sleep(0.02)  # the iteration's request took 20 ms at the server
    lags = [pacer.wait(20_000_000)] + [pacer.wait(0) for _ in range(4)]
    assert lags[0] == pytest.approx(19_000_000, abs=1)  # ideal start = previous ideal start + 20 ms
    assert lags[0] > lags[1] > lags[2]  # catching up without sleeping, one interval per call
    assert lags[0] - lags[1] == 1_000_000
    assert pacer.generator_lag_ns < 5_000_000  # the generator itself kept up


def test_generator_slack_is_not_charged_to_the_server():
    pacer = Pacer(1000.0, random.Random(1))
    pacer.wait()
    gevent.sleep(0.02)  # the generator stalled 20 ms; its requests took no server time
    lag = pacer.wait(0)
    assert lag == 0
    assert pacer.generator_lag_ns >= 15_000_000  # recorded as the generator's lag instead


def test_no_lag_when_keeping_up():
    pacer = Pacer(200.0, random.Random(2))
    start = time.perf_counter()
    lags = [pacer.wait() for _ in range(20)]
    assert time.perf_counter() - start >= 19 * 0.005 * 0.9  # it did sleep between starts
    assert max(lags) == 0  # sleep overshoot is the generator's, never charged


@pytest.mark.slow
def test_open_loop_hits_its_target_rate_within_5_percent(standalone_target, standalone_client, tmp_path):
    rate = 1500.0
    run_locust("kv", {"users": "10", "rate": str(rate), "mix": "{get: 4, set: 1}", "keyspace": "1000",
                      "drain_s": "0.5"}, standalone_target, tmp_path, seconds=22)
    latency = read_latency(tmp_path)
    per_second: dict[int, int] = {}
    for r in latency:
        if r["kind"] == "measured":
            per_second[r["t"]] = per_second.get(r["t"], 0) + r["count"]
    seconds = sorted(per_second)[1:-1]  # drop the partial first and last seconds
    window = seconds[:20] if len(seconds) >= 20 else seconds
    assert len(window) >= 18
    achieved = sum(per_second[t] for t in window) / len(window)
    assert abs(achieved - rate) / rate < 0.05, achieved
    # corrected latency (from the intended start) is never below the service time
    by_key = {(r["t"], r["op"], r["kind"]): r for r in latency}
    from rcapcore.latency import decode  # noqa: PLC0415

    for (t, op, kind), r in by_key.items():
        if kind == "corrected" and r["count"]:
            measured = decode(by_key[(t, op, "measured")]["hdr"])
            corrected = decode(r["hdr"])
            assert corrected.get_value_at_percentile(50) >= measured.get_value_at_percentile(50)
