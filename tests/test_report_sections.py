"""The report's sections on the committed reference runs (recorded by `rcap suite`): what each one finds
in the runs, checked against the raw files, without executing notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.plots import human_bytes

from analysis.report import failover, memory, pubsub, runset, summary, throughput, validation
from analysis.report.series import backlog_series
from analysis.memory_wall import memory_wall_prediction
from analysis.runs import load_run

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "data/reference"


@pytest.fixture(scope="module")
def ctx():
    return runset.context(REPO / "data/targets/example.yaml", [REFERENCE])


def test_discovers_every_run_sweep_and_experiment(ctx):
    manifests = sorted(REFERENCE.rglob("manifest.json"))
    assert len(ctx.runs.runs) == len(manifests) > 0
    assert len(ctx.runs.sweeps) == len(list(REFERENCE.rglob("sweep.json")))
    kinds = {ctx.runs.workload(r) for r in ctx.runs.runs}
    assert {"workmanager", "kv", "pubsub", "mass-operation", "memory-wall", "failover"} <= kinds
    # the sizing engine gets the bench runs, never a fault experiment
    bench = ctx.runs.bench_runs()
    assert bench and all(r.manifest.get("kind") != "experiment" and r.status == "complete" for r in bench)
    experiments = ("failover", "memory-wall", "node-stop")
    assert len(bench) == sum(1 for r in ctx.runs.runs if ctx.runs.workload(r) not in experiments)


def test_backlog_series_matches_the_recorded_workload_file(ctx):
    run = ctx.runs.of("mass-operation")[0]
    series = backlog_series(run)
    raw = [json.loads(line) for line in (run.path / "workload.jsonl").read_text().splitlines()]
    assert list(series["backlog_works"]) == [r["work_backlog"] for r in raw]
    assert series["t_s"].is_monotonic_increasing
    assert series["used_memory_bytes"].iloc[-1] > series["used_memory_bytes"].iloc[0]


def test_memory_fit_slope_is_the_cost_of_a_work(ctx):
    sec = memory.memory_section(ctx)
    slope = sec.values["bytes_per_work"]
    payload = ctx.runs.of("mass-operation")[0].manifest["scenario"]["params"]["work_type"]
    assert payload == "reindexBucket"
    # a ~20.7 KB reindex bucket costs its payload plus hash/list overhead: more than 20 KB, less than 30 KB
    assert 20_000 < slope < 30_000
    assert sec.values["r2"] > 0.99
    assert len(sec.figures) == 1


def test_failover_section_reports_the_audit_as_recorded(ctx):
    (run, result), = failover.failover_results(ctx.runs)
    raw = json.loads((run.path / "result.json").read_text())
    assert result == raw
    assert raw["acked"] == raw["acked_present"] + raw["acked_lost"]
    table = failover.failover_section(ctx).tables[0]
    column = table.iloc[:, 0]
    assert column["acked schedules"] == f"{raw['acked']:,}"
    assert column["lost"].startswith(f"{raw['acked_lost']:,}")
    notes = "\n".join(i for i in failover.failover_notes_section(ctx).items if isinstance(i, str))
    if raw["acked_lost"]:
        assert f"{raw['acked_lost']:,} of {raw['acked']:,}" in notes
    assert "min-replicas-to-write" in notes


def test_validation_rows_carry_measured_errors(ctx):
    rows = validation.validation_rows(ctx)
    wall = next(r for r in rows if r["check"].startswith("memory model: backlog at the OOM wall"))
    (run, result), = validation.memory_wall_results(ctx.runs)
    assert wall["measured"] == result["backlog_at_wall"]
    assert wall["error_pct"] == pytest.approx(
        100 * (memory_wall_prediction(result, run.manifest)["predicted_backlog"] - result["backlog_at_wall"])
        / result["backlog_at_wall"], abs=0.1)
    measured = [r for r in rows if r["error_pct"] is not None]
    assert len(measured) >= 3
    for r in measured:
        assert r["error_pct"] == pytest.approx(100 * (r["predicted"] - r["measured"]) / r["measured"], abs=0.01)


def test_summary_names_the_recommendation(ctx):
    rec = ctx.recommendation
    sec = summary.summary_section(ctx, rec)
    rows = sec.values["summary"]
    assert rows["Recommended topology"] == rec.topology["summary"]
    assert human_bytes(rec.memory["maxmemory_bytes"]) in rows["maxmemory"]
    assert "noeviction" in rows["maxmemory"]
    assert any(k.startswith("Instance types") for k in rows)
    assert rec.topology["summary"] in sec.items[0]


def test_a_run_without_sweeps_or_experiments_says_so(tmp_path):
    run = load_run(next(p.parent for p in sorted(REFERENCE.rglob("manifest.json"))
                        if json.loads(p.read_text()).get("scenario", {}).get("workload") == "pubsub"))
    ctx = runset.context(REPO / "data/targets/example.yaml", [run.path])
    assert "No failover experiment" in failover.failover_section(ctx).items[0]
    assert "No sweep" in throughput.throughput_section(ctx).items[0]
    assert pubsub.pubsub_section(ctx).figures
