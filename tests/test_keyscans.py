"""Scheduled keyspace scans (spec Corrections 9) on real redis-servers: KEYS blocking grows with the whole
keyspace, the scanner stays in the run's prefix and shows the spike, and shared targets are refused."""

from __future__ import annotations

import time

import pytest

from analysis.keyscans import expected_spike, fit_blocking, spike
from analysis.runs import Run
from loadgen.nuxeo.scans import BULK_STATUS_REQUEST, TRANSIENT_GC_REQUEST, period_scans, scans_per_period
from loadgen.topology.targets import Target
from locust_runner import read_counters, run_locust


def _fill(client, total: int, prefix: str = "other:") -> None:
    """Keys outside the run's prefix up to ``total`` keys in db0 (MSET batches)."""
    have = client.dbsize()
    for start in range(have, total, 5000):
        client.mset({f"{prefix}{i}": "x" for i in range(start, min(start + 5000, total))})


def _keys_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_keys", {}).get("calls", 0))


def test_keys_blocking_grows_with_the_whole_keyspace(topology_factory):
    topo = topology_factory("standalone")
    c = topo.client()
    try:
        c.set("rcap:transient_BatchManagerCache:b.completed", "false")  # the only key the scans may return
        ops = period_scans("rcap:")
        assert len(ops) == scans_per_period(1) == 15
        keys, us = [], []
        for total in (100_000, 400_000):  # above CPU-cache sizes, where the cost per key is steady
            _fill(c, total)
            time.sleep(1.0)  # let the incremental rehash of the grown dict finish (KEYS walks both tables)
            for op in ops[:6]:
                t0 = time.perf_counter_ns()
                found = c.execute_command(*op.args)
                us.append((time.perf_counter_ns() - t0) / 1000)
                keys.append(c.dbsize())
                assert all(k.startswith(b"rcap:") for k in found)
        fit = fit_blocking(keys, us)
    finally:
        c.close()
    # the whole keyspace is walked though the pattern matches ≤ 1 key: 4× the keys, well over 2× the time
    # (at 100 k keys the table may still sit in the CPU cache and cost less per key)
    small, big = sorted(us[:6])[3], sorted(us[6:])[3]
    assert big > 2 * small, (small, big)
    assert fit.slope > 0
    f = expected_spike(1_000_000, nodes=4, slo_us=2000, fit=fit)
    assert f.scans_per_period == 60 and f.blocking_us == pytest.approx(max(fit.intercept, 0) + fit.slope * 1e6)
    assert f.keys_at_slo is not None
    assert expected_spike(f.keys_at_slo, nodes=4, slo_us=2000, fit=fit).blocking_us == pytest.approx(2000, rel=0.01)


def test_scanner_records_the_scans_and_the_spike_they_cause(topology_factory, tmp_path):
    topo = topology_factory("standalone")
    c = topo.client()
    try:
        _fill(c, 150_000)
        before = _keys_calls(c)
        overrides = {"users": "2", "rate": "400", "mix": "{get: 1}", "keyspace": "1000", "gc_period_s": "2.5",
                     "drain_s": "0.2"}
        run_locust("kv", overrides, topo.target, tmp_path, seconds=6)
        calls = _keys_calls(c) - before
    finally:
        c.close()
    assert calls >= 15  # at least one whole period: 2 per transient store + 1 bulk status listing
    run = Run(tmp_path, {}, {}, {})
    assert {TRANSIENT_GC_REQUEST, BULK_STATUS_REQUEST} <= set(run.latency["op"])
    sp = spike(run)
    assert sp is not None and sp["scan_us"] > 5_000  # 150 k keys walked per scan
    assert sp["max_us"] > 2 * sp["baseline_p99_us"]  # the GETs arriving during a scan wait for it
    assert read_counters(tmp_path)["totals"]["keys_scans"] == calls


def test_scans_are_refused_on_a_target_rcap_did_not_start(standalone, tmp_path):
    shared = Target.parse(standalone.target.url)  # same server, seen as external
    assert shared.topology == "external"
    c = standalone.client()
    try:
        before = _keys_calls(c)
        overrides = {"users": "1", "rate": "50", "mix": "{get: 1}", "keyspace": "10", "gc_period_s": "0.2",
                     "drain_s": "0.1"}
        run_locust("kv", overrides, shared, tmp_path / "refused", seconds=2)
        assert _keys_calls(c) == before
        assert read_counters(tmp_path / "refused")["totals"]["keys_scans_refused_shared_target"] >= 1
        run_locust("kv", {**overrides, "keys_on_shared_target": "true"}, shared, tmp_path / "opt-in", seconds=2)
        assert _keys_calls(c) > before
    finally:
        c.flushall()
        c.close()


def test_nuxeo_cluster_runs_one_scanner_per_node():
    from loadgen.scenarios import load_scenario
    from loadgen.users.plan import plan

    s = load_scenario("nuxeo-cluster", {"nodes": "3", "gc_period_s": "60"})
    scanners = [i for i in plan(s) if i.role == "scanner"]
    assert len(scanners) == 1 and scanners[0].count == 3 and scanners[0].attrs["period_s"] == 60
    assert s.users == sum(i.count for i in plan(s))
    assert not [i for i in plan(load_scenario("nuxeo-cluster", {"gc_period_s": "0"})) if i.role == "scanner"]
