"""HA advice for Nuxeo (analysis.ha) and the report section built on it: Nuxeo's back-off, the down-after
that meets an objective, the 3-node Sentinel plan, Redis Enterprise's sourced figures, the persistence
advice against the disk sizing, and the copy-on-write text against the number the code adds."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from rcapcore.units import human_bytes

from analysis import ha, sizing
from analysis import memory as mem
from analysis.report import failover, runset
from analysis.targets import Deployment, RedisLoad, TargetLoad, load_target
from rcap.failover.availability import nuxeo_retry_delay_ms
from rcapcore.errors import BadInput

REPO = Path(__file__).resolve().parent.parent
GIB = 1024 ** 3


def _target(**dep) -> TargetLoad:
    return TargetLoad("t", redis=RedisLoad(works_per_s=100, work_payload_bytes=1000, work_processing_ms=10,
                                           worker_threads=8),
                      deployment=Deployment(**dep))


# -- Nuxeo's back-off: 2, 4, 8, 16, 32 … s between retries -------------------------------------------------

def test_backoff_resumes_at_the_first_retry_after_the_outage():
    assert ha.nuxeo_retry_times_s()[:5] == [2, 6, 14, 30, 62]
    assert ha.nuxeo_outage_s(2.0) == 2
    assert ha.nuxeo_outage_s(2.1) == 6
    assert ha.nuxeo_outage_s(30.0) == 30
    assert ha.nuxeo_outage_s(30.001) == 62
    assert ha.nuxeo_outage_s(254.0) == 254
    assert ha.nuxeo_outage_s(255.0) is None  # 510 s is past the 300 s budget: the call fails for good
    # the failover experiment's column is the same computation, in ms
    assert nuxeo_retry_delay_ms(2100) == 6000 and nuxeo_retry_delay_ms(400_000) is None


def test_sentinel_default_detection_means_62_s_for_nuxeo():
    # 30 s of detection plus any election: past the 30 s retry, so the next one at 62 s
    row = ha.production_outage(ha.SENTINEL_DEFAULT_DOWN_AFTER_MS, overhead_ms=500)
    assert row.redis_unavailable_s == pytest.approx(30.5)
    assert row.nuxeo_outage_s == 62 and not row.meets_objective


@pytest.mark.parametrize("objective_s,overhead_ms", [(30, 1309.6), (30, 0), (14, 2500), (62, 0), (100, 800)])
def test_suggested_down_after_meets_the_objective_and_one_step_more_does_not(objective_s, overhead_ms):
    best = ha.suggest_down_after_ms(objective_s, overhead_ms)
    assert best is not None and best % ha.DOWN_AFTER_STEP_MS == 0
    assert ha.production_outage(best, overhead_ms, objective_s).meets_objective
    assert not ha.production_outage(best + ha.DOWN_AFTER_STEP_MS, overhead_ms, objective_s).meets_objective


def test_no_down_after_meets_an_objective_shorter_than_the_election():
    assert ha.suggest_down_after_ms(2, overhead_ms=1500) is None  # 2 s retry − 1.5 s leaves < 1 s
    assert ha.suggest_down_after_ms(1.5) is None  # before Nuxeo's first retry


# -- topologies -------------------------------------------------------------------------------------------

def test_min_replicas_to_write_only_with_two_replicas():
    assert [ha.min_replicas_to_write(n) for n in range(4)] == [0, 0, 1, 1]


def test_sentinel_is_three_nodes_and_a_smaller_request_is_flagged():
    plan = ha.sentinel_plan(replicas=1, sentinels=3)
    assert (plan.data_nodes, plan.replicas, plan.sentinels, plan.quorum) == (3, 2, 3, 2)
    assert plan.min_replicas_to_write == 1
    (flag,) = plan.flags
    assert "1 replica" in flag and "split-brain" in flag and "maintenance" in flag
    assert "(s)" not in plan.summary and "Sentinel" in plan.placement
    ok = ha.sentinel_plan(replicas=2, sentinels=5)
    assert ok.flags == () and ok.quorum == 3 and ok.sentinels_elsewhere == 2
    # the sizing uses the plan: 3 data nodes, 2 replicas' output buffers in the node RAM
    r1, r2 = sizing.size(_target(replicas=1)), sizing.size(_target(replicas=2))
    assert r1.topology["data_nodes"] == 3 and r1.memory["node_ram_bytes"] == r2.memory["node_ram_bytes"]
    assert any("split-brain" in f for f in r1.flags) and not any("split-brain" in f for f in r2.flags)
    assert r1.topology["min_replicas_to_write"] == 1


def test_enterprise_figures_carry_their_sources():
    shard = 2 * GIB
    plan = ha.enterprise_plan(shard, fragmentation_ratio=1.2, requested_nodes=4)
    assert plan.nodes == 5 and plan.flags  # odd, at least 3: the change is stated
    assert plan.node_ram_bytes >= max(8 * GIB, shard * 1.2 / 0.7)
    assert plan.database_bytes == 2 * shard  # replication doubles memory
    assert plan.persistent_disk_bytes >= 3 * plan.node_ram_bytes
    assert {f.name for f in plan.figures} >= {"nodes", "RAM per node", "cores per node", "shard (maxmemory)",
                                                "database memory with replication", "persistent disk per node"}
    for f in plan.figures:
        assert re.match(r"https://redis\.io/docs/", f.source), f
    big = ha.enterprise_plan(30 * 1000 ** 3, 1.1)
    assert any("25 GB per shard" in f for f in big.flags)
    # the sizing's Sentinel recommendation carries the supported alternative for the same maxmemory
    rec = sizing.size(_target())
    assert rec.topology["enterprise_option"]["shard_bytes"] == rec.memory["maxmemory_bytes"]


# -- persistence and copy-on-write ------------------------------------------------------------------------

def test_persistence_advice_matches_the_disk_sizing():
    t = _target(persistence="aof")
    rec = sizing.size(t)
    advice = ha.persistence_advice(t, rec)
    assert advice.mode == "aof" and advice.flag is None
    assert advice.disk_bytes == rec.disk["bytes"] == sizing.estimate_disk(t.deployment,
                                                                           rec.memory["maxmemory_bytes"]).bytes
    assert "appendfsync everysec" in advice.settings
    # a target that asks for RDB keeps its disk sizing, with the difference flagged
    t2 = _target(persistence="rdb")
    rec2 = sizing.size(t2)
    advice2 = ha.persistence_advice(t2, rec2)
    assert rec2.disk["persistence"] == "rdb" and advice2.target_disk_bytes == rec2.disk["bytes"]
    assert advice2.disk_bytes == pytest.approx(1.5 * rec2.disk["bytes"])  # AOF 3×, RDB 2× maxmemory
    assert advice2.flag and advice2.flag in rec2.flags


def test_cow_text_shows_the_number_the_code_adds():
    rec = sizing.size(_target(persistence="aof"))
    frag = 1 + rec.memory["node_parts"]["fragmentation"] / rec.memory["maxmemory_bytes"]
    cow = 0.5 * rec.memory["maxmemory_bytes"] * frag  # half the node's pages at maxmemory
    assert rec.memory["node_parts"]["fork copy-on-write"] == pytest.approx(cow)
    (text,) = [a for a in rec.assumptions if a.startswith("fork copy-on-write")]
    assert human_bytes(cow) in text and "50%" in text and f"fragmentation {frag:.2f}" in text
    o = mem.NodeOverheads(persistence="none", replicas=0)
    assert "none" in mem.cow_assumption(o, mem.recommend_memory(GIB, o))


def test_failover_objective_is_validated(tmp_path):
    text = (REPO / "data/targets/example.yaml").read_text()
    for bad in ("1", "301", ".nan"):
        p = tmp_path / "t.yaml"
        p.write_text(text.replace("  headroom: 0.25", f"  headroom: 0.25\n  failover_objective_s: {bad}"))
        with pytest.raises(BadInput, match="failover_objective_s"):
            load_target(str(p))
    assert load_target("example").deployment.failover_objective_s == ha.DEFAULT_FAILOVER_OBJECTIVE_S


# -- the report section -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctx():
    return runset.context(REPO / "data/targets/example.yaml", [REPO / "data/reference"])


def test_notes_values_follow_the_recorded_experiment(ctx):
    sec = failover.failover_notes_section(ctx)
    v = sec.values
    (_, r), = failover.failover_results(ctx.runs)
    overhead_ms = r["promotion_ms"] - r["down_after_ms"]
    assert v["promotion_overhead_ms"] == pytest.approx(overhead_ms)
    assert v["nuxeo_outage_s"] == ha.nuxeo_outage_s((v["suggested_down_after_ms"] + overhead_ms) / 1000)
    assert v["nuxeo_outage_s"] <= v["failover_objective_s"] < v["nuxeo_outage_at_default_down_after_s"]
    lag = failover.replication_lag_window(ctx.runs)
    rec = ctx.recommendation
    rate = rec.traffic["works_per_s"] + rec.mass_operation["arrival_works_per_s"]
    assert v["works_at_risk"] == pytest.approx(lag["window_ms"] / 1000 * rate)
    text = "\n".join(i for i in sec.items if isinstance(i, str))
    assert f"down-after-milliseconds {v['suggested_down_after_ms']}" in text
    assert f"{v['works_at_risk']:,.0f} works" in text
    assert ha.NUXEO_ARCHITECTURE_URL in text and "Redis Enterprise" in text
    assert "cache invalidations" in text and "stale" in text
    assert "(s)" not in text and not re.search(r"\bnan\b", text, re.I)
    # min-replicas-to-write is advised with the 2 replicas of the plan, never next to a single replica
    assert v["sentinel_plan"]["replicas"] >= 2 and "min-replicas-to-write 1" in text
    assert sec.tables[0].index.size == len(ha.enterprise_plan(1, 1).figures)
    for t in sec.tables:  # the tables follow the same artefact rules as the text
        cells = " ".join(map(str, [*t.columns, *t.index, *t.to_numpy().ravel()]))
        assert "(s)" not in cells and not re.search(r"\bnan\b", cells, re.I)


def test_ha_and_node_stop_sections_have_no_template_plurals(ctx):
    for sec in (failover.failover_timeline_section(ctx), failover.node_stop_section(ctx)):
        text = "\n".join(i for i in sec.items if isinstance(i, str))
        assert "(s)" not in text


def test_one_value_is_not_a_range():
    assert failover._range_ms([3281.0, 3281.2]) == "3,281 ms"
    assert failover._range_ms([2045.0, 3281.0]) == "2,045–3,281 ms"


def test_timeline_caption_names_the_killed_master(ctx):
    (run, r), = failover.failover_results(ctx.runs)
    text = failover.timeline_caption(run, r)
    first = run.server.sort_values("t").query("role == 'master'")["node"].iloc[0]
    assert f"The master was node {first}" in text and '"fault ends"' in text
    assert "(s)" not in text


def test_a_deployment_without_failover_runs_still_gets_advice(ctx):
    bare = replace(ctx, runs=replace(ctx.runs, runs=[r for r in ctx.runs.runs
                                                     if ctx.runs.workload(r) != "failover"]))
    v = failover.ha_advice(bare)
    assert not v["promotion_measured"] and v["promotion_overhead_ms"] == 0
    assert v["suggested_down_after_ms"] == 30_000  # detection only: the 30 s retry, a lower bound
