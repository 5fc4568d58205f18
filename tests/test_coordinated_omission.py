"""Coordinated-omission correction on a real redis-server: charged for a slow server, never for rcap's slack."""

from __future__ import annotations

import subprocess
import sys
import time

from rcapcore.latency import CORRECTED, GENERATOR, GENERATOR_LAG_OP, MEASURED, decode, new_histogram
from locust_runner import LOCUSTFILE, locust_env, read_latency, run_locust
from loadgen.scenarios import load_scenario


def merged(records, kind, op=None):
    hist = new_histogram()
    for r in records:
        if r["kind"] == kind and (op is None or r["op"] == op) and r["count"]:
            hist.add(decode(r["hdr"]))
    return hist


def test_light_load_corrected_latency_equals_measured_within_noise(standalone_target, standalone_client, tmp_path):
    # 3,000 SET/s over 10 users: Redis is far from busy, so nothing ever waits behind the server
    run_locust("kv-set-1k", {"users": "10", "rate": "3000", "keyspace": "1000", "drain_s": "0.5"},
               standalone_target, tmp_path, seconds=6)
    latency = read_latency(tmp_path)
    measured, corrected = merged(latency, MEASURED, "SET"), merged(latency, CORRECTED, "SET")
    assert measured.get_total_count() > 10_000
    m50, c50 = measured.get_value_at_percentile(50), corrected.get_value_at_percentile(50)
    assert c50 <= 1.25 * m50 + 20, (m50, c50)
    # the generator's own scheduling lag is its own series, one sample per paced iteration (an iteration
    # cut by the end of the run, or a failed request, has a lag sample and no corrected one: ≤ 1 per user)
    lag = merged(latency, GENERATOR, GENERATOR_LAG_OP)
    assert 0 <= lag.get_total_count() - corrected.get_total_count() <= 10
    assert all(r["op"] == GENERATOR_LAG_OP for r in latency if r["kind"] == GENERATOR)


def test_a_server_stall_shows_in_corrected_latency_only(topology_factory, tmp_path):
    topo = topology_factory("standalone")
    node = topo.nodes[0]
    scenario = load_scenario("kv-set-1k", {"users": "10", "rate": "1000", "keyspace": "1000", "drain_s": "0.5"})
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "10", "-r", "10",
            "-t", "6s", "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    proc = subprocess.Popen(argv, env=locust_env(scenario, topo.target, tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.0)
        topo.stop_node(node)
        time.sleep(0.2)
        topo.cont_node(node)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            topo.cont_node(node)
    assert proc.returncode == 0, err[-2000:]
    latency = read_latency(tmp_path)
    measured, corrected = merged(latency, MEASURED, "SET"), merged(latency, CORRECTED, "SET")
    slow_us = 50_000

    def at_least(hist, us):
        return hist.get_total_count() - hist.get_count_at_value(0) - sum(
            item.count_added_in_this_iter_step for item in hist.get_recorded_iterator()
            if item.value_iterated_to < us)

    # ≈200 requests were due during the 200 ms stall (1,000/s): they queued behind the frozen server
    assert at_least(corrected, slow_us) >= 60, at_least(corrected, slow_us)
    assert corrected.get_max_value() >= 150_000
    # measured (service time) shows only the ≤ 10 requests in flight when the server froze (plus, on a
    # busy shared machine, a few descheduling hiccups of the load generator itself)
    assert at_least(measured, slow_us) * 4 <= at_least(corrected, slow_us)
    assert measured.get_value_at_percentile(99) < slow_us
