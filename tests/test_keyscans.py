"""Scheduled keyspace scans (spec Corrections 9) on real redis-servers: KEYS blocking grows with the whole
keyspace, the scanner stays in the run's prefix and shows the spike, and shared targets are refused."""

from __future__ import annotations

import time

import pytest

from analysis.keyscans import expected_spike, fit_blocking, spike
from analysis.runs import Run
from rcapcore.nuxeo.scans import BULK_STATUS_REQUEST, TRANSIENT_GC_REQUEST, period_scans, scans_per_period
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
    assert len(fit.sizes) == 2 and fit.us_per_key > 0
    f = expected_spike(1_000_000, nodes=4, slo_us=2000, fit=fit)
    assert f.scans_per_period == 60 and f.blocking_us == pytest.approx(fit.us_per_key * 1e6)
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
    from loadgen.workloads import plan

    s = load_scenario("nuxeo-cluster", {"nodes": "3", "gc_period_s": "60"})
    scanners = [i for i in plan(s) if i.role == "scanner"]
    assert len(scanners) == 1 and scanners[0].count == 3 and scanners[0].attrs["period_s"] == 60
    assert s.users == sum(i.count for i in plan(s))
    assert not [i for i in plan(load_scenario("nuxeo-cluster", {"gc_period_s": "0"})) if i.role == "scanner"]


def test_blocking_fit_needs_two_keyspace_sizes():
    from rcapcore.errors import BadInput

    with pytest.raises(BadInput, match="two or more keyspace sizes"):
        fit_blocking([100_000, 101_000, 99_000], [10_000, 11_000, 9_000])
    fit = fit_blocking([100_000, 101_000, 400_000, 401_000], [10_000, 10_200, 40_000, 40_100])
    assert fit.us_per_key == pytest.approx(0.1, rel=0.01) and len(fit.sizes) == 2


def test_blocking_model_fitted_on_recorded_runs_at_two_keyspace_sizes(topology_factory, tmp_path):
    """Two ``rcap bench kv`` runs with scans against one server (opted in as a shared target), 100 k then
    400 k keys: the runs' scans give the blocking model and the sizing uses it."""
    from analysis import sizing
    from analysis.keyscans import scan_points
    from analysis.runs import load_runs
    from analysis.targets import load_target
    from rcap.bench import run_bench

    topo = topology_factory("standalone")
    c = topo.client()
    dirs = []
    try:
        for total in (100_000, 400_000):
            _fill(c, total)
            time.sleep(1.0)
            dirs.append(run_bench("kv", target=topo.target.url, duration_s=6, out=tmp_path, progress=False,
                                  overrides={"gc_period_s": "2", "keys_on_shared_target": "true", "rate": "200",
                                             "users": "2"}))
    finally:
        c.close()
    runs = load_runs(dirs)
    for run in runs:  # the run itself records the scans and the spike around them
        ks = run.summary["keys_scans"]
        assert ks["scans"] >= 15 and ks["scan"]["p50_us"] > 1000
        assert ks["others_in_scan_seconds"]["max_us"] > ks["others_other_seconds"]["p50_us"]
    pts = scan_points(runs)
    assert set(pts["run_id"]) == {r.id for r in runs}
    assert pts.groupby("run_id")["keys"].median().max() > 3.5 * pts.groupby("run_id")["keys"].median().min()
    fit = fit_blocking(pts["keys"], pts["keys_us"])
    assert fit.us_per_key > 0
    ks = sizing.size(load_target("example"), runs=runs).keys_scans
    assert "fitted on" in ks["source"] and ks["blocking_us"] == pytest.approx(fit.us_per_key * ks["keys"])
