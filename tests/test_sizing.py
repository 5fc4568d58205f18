"""Sizing rules on known inputs."""

from dataclasses import replace

import pytest

from analysis import memory as mem
from analysis import sizing
from analysis.targets import Deployment, RedisLoad, TargetLoad, load_target

GIB = 1024 ** 3


def _redis_target(**dep):
    return TargetLoad("t", redis=RedisLoad(works_per_s=100, work_payload_bytes=1000, work_processing_ms=10,
                                           worker_threads=8, kv_keys=0, pubsub_messages_per_s=0),
                      deployment=Deployment(**{"persistence": "none", "replicas": 0, **dep}))


def test_sentinel_rules():
    r = sizing.size(_redis_target(topology="sentinel", sentinels=2, replicas=1))
    assert r.topology["sentinels"] == 3 and r.topology["quorum"] == 2
    assert any("at least 3" in f for f in r.flags)
    # Nuxeo's Redis page: Sentinel needs 3 Redis nodes; 1 replica asked → 3 nodes sized, deviation flagged
    assert r.topology["data_nodes"] == 3 and r.topology["replicas"] == 2
    assert any("split-brain" in f for f in r.flags)
    r5 = sizing.size(_redis_target(topology="sentinel", sentinels=5, replicas=2))
    assert r5.topology["quorum"] == 3 and r5.topology["data_nodes"] == 3


def test_enterprise_rules_odd_nodes_free_ram_and_shard_limit():
    r = sizing.size(_redis_target(topology="enterprise", enterprise_nodes=4, replicas=1))
    assert r.topology["nodes"] == 5
    assert r.topology["database_bytes"] == pytest.approx(2 * r.memory["maxmemory_bytes"])  # replica doubles
    assert r.topology["node_ram_bytes"] >= r.memory["maxmemory_bytes"] / 0.7
    assert all(not i["managed"] for i in r.instances)
    big = replace(_redis_target(topology="enterprise"), redis=RedisLoad(kv_keys=200_000_000, kv_value_bytes=200))
    assert any("25 GB per shard" in f for f in sizing.size(big).flags)


def test_ceiling_flag_and_advice():
    t = replace(_redis_target(), redis=RedisLoad(works_per_s=50_000, work_payload_bytes=1000, worker_threads=400))
    r = sizing.size(t)
    assert r.cpu["utilization_peak"] > 0.8
    flag = next(f for f in r.flags if "ceiling" in f)
    assert "faster cores" in flag and "Nuxeo Stream" in flag and "splitting workloads" in flag
    import json

    json.dumps(r.to_dict(), allow_nan=False)  # sizing.json stays strict JSON even when saturated
    assert "saturated" in r.table()


def test_memory_adds_up_and_follows_the_mass_operation():
    t = load_target("example")
    r = sizing.size(t)
    parts = r.memory["parts"]
    assert r.memory["dataset_bytes"] == pytest.approx(sum(parts.values()))
    mo = t.mass_operation
    # one FIFO queue (spec Corrections 10): buckets 40/s × 2.5 s and live IndexingWorkers 40/s × 20 ms arrive
    # for 500 s on 16 threads, so pending thread-seconds grow at 100 + 0.8 − 16 = 84.8 /s; a work arriving at
    # s starts at s + 84.8 s / 16, so at t = 500 s what arrived after 500 / 6.3 s still waits: as many buckets
    # as live works, 40 × (500 − 500 / 6.3) each
    waiting = 40 * (500 - 500 / 6.3)
    assert r.mass_operation["peak_bytes_t_s"] == pytest.approx(500)
    assert r.mass_operation["peak_bytes_mass_works"] == pytest.approx(waiting + 16)  # + 16 running
    assert r.mass_operation["peak_bytes_live_works"] == pytest.approx(waiting)
    layout = mem.RedisLayout.for_version("7.2", mem.Allocator.parse("jemalloc"))
    n_mass, n_live = int(waiting) + 1 + 16, int(waiting) + 1
    shape = mem.WorkShape(round((n_mass * mo.payload_bytes + n_live * 1700) / (n_mass + n_live)), payload_mix=(
        (n_mass, mo.payload_bytes, mo.payload_sd_bytes), (n_live, 1700, 0)))  # IndexingWorker: 1,700 bytes
    expect = mem.pending_works_bytes(n_mass + n_live, shape, layout)
    assert parts["mass operation peak"] == pytest.approx(expect, rel=1e-3)
    assert r.mass_operation["peak_t_s"] == pytest.approx(500)
    assert r.mass_operation["peak_backlog"] == pytest.approx(waiting)
    # the most live works wait when the last bucket starts (t = 500 × 6.3 s): those of the last 2,650 s
    assert r.mass_operation["peak_live_waiting_works"] == pytest.approx(40 * 84.8 * 500 / 16)
    assert r.memory["maxmemory_bytes"] >= r.memory["dataset_bytes"] / (1 - t.deployment.headroom)
    assert "documented defaults" in r.parameters_source
    # a live document indexed at the peak waits behind every bucket: pending thread-seconds / threads
    assert r.mass_operation["live_lag_max_s"] == pytest.approx((40 * 2.5 + 0.8 - 16) * 500 / 16)
    assert r.traffic["nuxeo_version"] == "2021" and "Nuxeo version" in r.table()
    assert r.traffic["clients"] == 4 * 7  # Sentinel: Jedis's default pool of 8, one held by PubSub
    assert any("Sentinel mode ignores" in f for f in r.flags)
    by = {w["label"]: w for w in r.what_ifs}
    # twice the steady load: twice the live works waiting behind the buckets
    assert by["docs/s ×2"]["peak_memory_bytes"] > by["reindex ×1"]["peak_memory_bytes"] == r.memory["dataset_bytes"]
    assert "sensitivity" not in r.to_dict()  # superseded by what_ifs: no second derivation


def test_reserved_memory_rules_pick_instances():
    r = sizing.size(load_target("example"))
    for inst in r.instances:
        if inst["managed"]:
            assert inst["usable_memory_gib"] * GIB >= r.memory["maxmemory_bytes"]
        else:
            assert inst["memory_gib"] * GIB >= r.memory["node_ram_bytes"]
    assert all(i["service"] != "memorystore-cluster" for i in r.instances)  # WorkManager needs one shard
    d = r.to_dict()
    assert d["target"] == "example" and "table" not in d
    assert "maxmemory" in r.table()


def test_persistence_disk_rule():
    r = sizing.size(_redis_target(persistence="aof"))
    assert r.disk["bytes"] == pytest.approx(3 * r.memory["maxmemory_bytes"])
    assert sizing.size(_redis_target()).disk["bytes"] == 0


def test_cli_size_and_model_memory(capsys):
    import json

    from rcap.cli import main

    assert main(["size", "example", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "example" and out["memory"]["maxmemory_bytes"] > 0
    assert main(["model", "memory", "--works", "1000", "--payload", "1100", "--allocator", "jemalloc-q16",
                 "--redis-version", "7.0"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["low"] <= pred["bytes"] <= pred["high"]
    assert main(["size", "no-such-target"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_tls_and_replication_cost():
    plain = sizing.size(_redis_target(topology="sentinel", replicas=1))
    tls = sizing.size(_redis_target(topology="sentinel", replicas=1, tls=True))
    from analysis.throughput import TLS_CPU_FACTOR

    assert TLS_CPU_FACTOR > 1
    # every CPU cost is scaled (the per-work figure at the target's load also moves with the utilization)
    assert tls.cpu["cpu_us_per_work_light_load"] == pytest.approx(plain.cpu["cpu_us_per_work_light_load"] * TLS_CPU_FACTOR)
    assert tls.cpu["ceiling_works_per_s"] == pytest.approx(plain.cpu["ceiling_works_per_s"] / TLS_CPU_FACTOR)
    assert tls.cpu["utilization_steady"] > plain.cpu["utilization_steady"]
    # Sentinel is sized for 2 replicas at least (analysis.ha.sentinel_plan): 1 requested = 2 planned
    two = sizing.size(_redis_target(topology="sentinel", replicas=2))
    assert two.network["replication_bytes_per_s"] == pytest.approx(plain.network["replication_bytes_per_s"])
    four = sizing.size(_redis_target(topology="sentinel", replicas=4))
    assert four.network["replication_bytes_per_s"] == pytest.approx(2 * two.network["replication_bytes_per_s"])
    # 100 works/s of 1000 B to each of 2 replicas: each lifecycle replicates the payload twice plus the
    # scripts' effects
    assert plain.network["replication_bytes_per_s"] >= 2 * 100 * (2 * 1000 + 7660)


def test_sizing_on_recorded_reference_runs():
    """The committed reference runs (rcap suite) feed measured parameters into the recommendation."""
    from pathlib import Path

    from analysis.runs import load_run

    sweeps = sorted((Path(__file__).resolve().parents[1] / "data" / "reference").glob("*-sweep-workmanager-*"))
    if not sweeps:
        pytest.skip("no reference WorkManager sweep committed")
    step = next(p for p in sorted(sweeps[-1].iterdir()) if (p / "manifest.json").is_file())
    r = sizing.size(load_target("example"), runs=[load_run(step)])
    assert r.parameters_source.startswith("measured:")
    assert r.cpu["demand_source"].count("workmanager") == 3  # the sweep's other steps joined in
    assert "fitted over 3 runs with a fixed turn share" in r.cpu["ceiling_method"]["works"]
    # light-load runs only: the ceiling is extrapolated from the model, and says how far
    assert "extrapolated" in r.cpu["ceiling_method"]["works"] and r.cpu["ceiling_extrapolation"]["works"] > 1
    assert r.cpu["cpu_us_per_work_saturated"] < r.cpu["cpu_us_per_work"] < r.cpu["cpu_us_per_work_light_load"]
    assert r.cpu["ceiling_validation"] is None  # no saturation probe among these runs


def test_size_composes_the_estimators():
    """``size`` reports what each model's estimator returns (one number per quantity), and the what-ifs
    are the same estimators on the changed target."""
    target = load_target("data/targets/example.yaml")
    rec = sizing.size(target)
    measured = sizing.measured_from_runs(None)
    layout = mem.RedisLayout.for_server(target.deployment.server_id, mem.Allocator.parse(target.deployment.allocator))
    est = sizing.estimate(target, measured, layout)
    assert rec.cpu.items() >= est.cpu.to_dict().items()  # size() adds the measured knee when runs are given
    assert rec.network == est.network.to_dict()
    assert rec.memory["parts"] == est.memory.parts
    assert rec.memory["dataset_bytes"] == est.memory.dataset_bytes == pytest.approx(sum(est.memory.parts.values()))
    assert rec.mass_operation == est.mass.summary and est.mass.peak_bytes == rec.mass_operation["peak_bytes"]
    assert rec.disk == sizing.estimate_disk(target.deployment, rec.memory["maxmemory_bytes"]).to_dict()
    topo = sizing.estimate_topology(target.deployment, est.memory, est.network.link_gbps)
    assert rec.topology == topo.topology and rec.instances == topo.instances
    assert set(topo.flags) <= set(rec.flags)
    row = next(w for w in rec.what_ifs if w["label"] == "docs/s ×2")
    scaled = sizing.estimate(target.scaled(2.0), measured, layout)
    assert row["maxmemory_needed_bytes"] == scaled.memory.recommendation.maxmemory_bytes
    assert row["peak_memory_bytes"] == scaled.memory.dataset_bytes


def test_no_mass_operation_estimate_is_empty():
    target = _redis_target()
    layout = mem.RedisLayout.for_server(target.deployment.server_id, mem.Allocator.parse(target.deployment.allocator))
    est = sizing.estimate(target, sizing.measured_from_runs(None), layout)
    assert est.mass.summary is None and est.mass.peak_bytes == 0 and est.mass.arrival_works_per_s == 0
    assert est.memory.parts["mass operation peak"] == 0
