"""rcap suite's benchmark plan, and one brief real suite on an embedded standalone Redis."""

from __future__ import annotations

from pathlib import Path

import yaml

from analysis.report.runset import RunSet
from loadgen import topology
from rcap.suite import plan, run_suite

REPO = Path(__file__).resolve().parent.parent


def test_plan_follows_the_topology():
    kinds = {t: [s.kind for s in plan(t)] for t in ("sentinel", "enterprise", "standalone", "external")}
    assert "failover" in kinds["sentinel"] and "failover" in kinds["enterprise"]
    assert "failover" not in kinds["standalone"] and "memory-wall" in kinds["standalone"]
    # against a Redis rcap did not start, nothing is killed and nothing is filled to OOM
    assert set(kinds["external"]) == {"bench", "probe"}
    steps = plan("sentinel", nuxeo_nodes=6)
    assert any(len(s.users) >= 4 for s in steps), "the USL fit needs a closed-loop sweep of 4+ levels"
    assert any(s.scenario == "pubsub" and s.overrides.get("nodes") == "6" for s in steps)
    assert sum(s.duration_s * max(len(s.rates), len(s.users), 1) for s in steps) < 180  # seconds of load
    # the saturation probe: closed-loop lifecycles at growing concurrency, recorded as a users sweep
    probe = next(s for s in steps if s.kind == "probe")
    assert probe.scenario == "work-lifecycle" and list(probe.users) == sorted(probe.users) and len(probe.users) >= 3


def test_full_profile_is_long_enough_for_p99_claims():
    steps = plan("standalone")
    load_s = sum(s.seconds(full=True) * max(len(s.rates), len(s.users), 1) for s in steps)
    assert 15 * 60 <= load_s <= 30 * 60
    # the lightest WorkManager step (100 works/s ≈ 5 requests per work) holds well over 10,000 requests
    wm = next(s for s in steps if s.scenario == "workmanager")
    assert min(wm.rates) * 5 * wm.seconds(full=True) >= 10_000
    assert all(s.seconds(full=True) >= s.seconds() for s in steps)


def test_brief_suite_records_every_step_and_leaves_no_server(tmp_path):
    target = yaml.safe_load((REPO / "data/targets/example.yaml").read_text())
    target["deployment"]["topology"] = "standalone"
    path = tmp_path / "standalone.yaml"
    path.write_text(yaml.safe_dump(target))
    base = tmp_path / "rcap"
    lines: list[str] = []
    result = run_suite(path, runs_out=tmp_path / "runs", scale=0.12, base_dir=str(base), progress=lines.append)
    steps = plan("standalone")
    assert len(result.run_dirs) == len(steps)
    assert all(p.is_dir() and p.parent == result.dir for p in result.run_dirs)
    assert sum(line.startswith("[") for line in lines) == len(steps)  # one progress line per step
    runs = RunSet.discover([result.dir])
    assert len(runs.sweeps) == sum(1 for s in steps if len(s.rates) > 1 or len(s.users) > 1)
    assert {runs.workload(r) for r in runs.runs} >= {"workmanager", "kv", "kv-set", "pubsub", "mass-operation",
                                                     "memory-wall"}
    assert all(r.status == "complete" for r in runs.runs), [(r.id, r.status) for r in runs.runs]
    assert topology.status(base) == []
