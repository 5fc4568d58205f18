"""analysis.runs reads run and sweep directories into DataFrames (files only, no Redis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.runs import load_run, load_runs, load_sweep, runs_frame
from rcapcore.latency import encode, new_histogram
from loadgen.recorder.rundir import RunDir
from rcapcore.rundata import write_json
from loadgen.recorder.summary import build_summary


def _fake_run(out: Path, users: int, start: int = 1_000) -> Path:
    """A run directory written with the recorder's own writers, with known contents."""
    run = RunDir.create(out, "fake")
    with open(run.path / "latency.jsonl", "w") as fh:
        for t in range(start, start + 4):
            for op, base in (("GET", 100), ("SET", 200)):
                hist = new_histogram()
                for i in range(users * 10):
                    hist.record_value(base + i)
                fh.write(json.dumps({"t": t, "op": op, "kind": "measured", "count": users * 10,
                                     "errors": 1 if (t, op) == (start + 1, "SET") else 0, "hdr": encode(hist)}) + "\n")
    for node, role in (("127.0.0.1_1", "master"), ("127.0.0.1_2", "replica")):
        for i in range(3):
            run.append_jsonl(f"server/{node}.jsonl", {
                "t": start + i, "node": node, "role": role,
                "info": {"used_memory": 1_000_000 + i * 1000, "role": "slave" if role == "replica" else "master"},
                "keyspace": {"db0": {"keys": 10 * i, "expires": 0}},
                "cmd": {"set": {"calls": 5, "usec": 50, "usec_per_call": 10.0}} if i else {},
                "memory_stats": {"peak.allocated": 123, "db.0": {"overhead.hashtable.main": 64}},
                "derived": {"repl_lag_bytes_max": 0} if role == "master" else {"master_link_up": True}})
    run.event("run_start", t=start - 0.5, users=users)
    run.event("errors", t=start + 1, op="SET", errors=1)
    run.append_jsonl("workload.jsonl", {"t": start + 1.2, "work_backlog": 7})
    run.write_json("summary.json", build_summary(run.path))
    run.write_json("manifest.json", {"run_id": run.path.name, "status": "complete", "start_t": start - 1,
                                     "load_start_t": start - 0.5, "scenario": {"name": "fake"},
                                     "parameters": {"users": users, "rate": None, "duration_s": 4},
                                     "target": {"topology": "standalone"}, "loadgen_bound": False})
    run.seal()
    return run.path


def test_load_run_frames(tmp_path: Path) -> None:
    run = load_run(_fake_run(tmp_path, users=2))
    assert run.status == "complete" and run.id == run.path.name
    lat = run.latency
    assert len(lat) == 8 and set(lat["op"]) == {"GET", "SET"}
    assert (lat["count"] == 20).all() and lat["errors"].sum() == 1
    get = lat[lat.op == "GET"].iloc[0]
    assert get["p50_us"] == pytest.approx(109, abs=1) and get["max_us"] == pytest.approx(119, abs=1)
    assert lat["elapsed_s"].min() == pytest.approx(0.5)
    srv = run.server
    assert len(srv) == 6 and set(srv["role"]) == {"master", "replica"}
    assert {"used_memory", "cmd.set.calls", "cmd.set.usec_per_call", "keyspace.db0.keys",
            "memory_stats.peak.allocated", "memory_stats.db.0.overhead.hashtable.main",
            "repl_lag_bytes_max"} <= set(srv.columns)
    assert srv[srv.node == "127.0.0.1_1"]["used_memory"].tolist() == [1_000_000, 1_001_000, 1_002_000]
    assert list(run.events["kind"]) == ["run_start", "errors"]
    assert run.workload["work_backlog"].tolist() == [7]
    assert run.ops.loc["SET", "errors"] == 1 and run.ops.loc["GET", "count"] == 80


def test_runs_frame_and_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep-x"
    paths = [_fake_run(sweep_dir, users=u, start=1000 + 10 * u) for u in (1, 4)]
    write_json(sweep_dir / "sweep.json", {"sweep_id": "sweep-x", "param": "users", "values": [1, 4],
                                          "status": "complete",
                                          "runs": [{"value": 1, "run_id": paths[0].name, "status": "complete"},
                                                   {"value": 4, "run_id": paths[1].name, "status": "complete"}]})
    df = runs_frame(load_runs(paths))
    assert list(df["users"]) == [1, 4] and list(df["op"]) == ["total", "total"]
    assert df["ops_per_s"].tolist() == [20.0, 80.0]  # 2 ops × users × 10 per steady second
    per_op = runs_frame(load_runs(paths), op=None)
    assert len(per_op) == 4 and set(per_op["op"]) == {"GET", "SET"}
    sweep = load_sweep(sweep_dir)
    assert sweep.param == "users" and [r.path for r in sweep.runs] == paths
    assert sweep.frame()["value"].tolist() == [1, 4]


def test_not_a_run_dir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        load_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a sweep directory"):
        load_sweep(tmp_path)
