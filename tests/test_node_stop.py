"""``rcap node-stop`` on real redis-server processes: graceful stop, crash, the audit, the poison test,
the orphan model against MEMORY USAGE, and the documented recovery script.

Loads are a few seconds long; each run starts its own emulated-node processes (and checks none is left).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from analysis.nodestop import orphan_bytes_per_work, orphans_per_stop, validation
from rcap.cli import main
from rcap.failover.node_stop import NodeStopSpec, run_node_stop
from rcapcore.nuxeo.payloads import PayloadFactory
from loadgen.nuxeo.workmanager import WorkManagerClient

ROOT = Path(__file__).resolve().parent.parent
RECOVERY = ROOT / "rcap" / "failover" / "lua" / "recover-orphaned-works.lua"
TERMINAL = ("C ", "R ", "S ")


def _short(mode: str, base_dir, **kw) -> NodeStopSpec:
    # 10 threads × 400 ms: the stopped node holds ≈ 13 works/s × 0.4 s ≈ 5 works at the stop
    opts = dict(mode=mode, nodes=3, threads=10, at_s=1.5, duration_s=3.0, rate=40.0, work_ms=400.0,
                poison_window_s=1.0, base_dir=str(base_dir))
    opts.update(kw)
    return NodeStopSpec(**opts)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose; /proc tells
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _popped_not_finished(log: Path) -> set[str]:
    """Re-derived from the node's log, independently of the audit code: ids popped and never ended."""
    open_ids: dict[str, str] = {}
    for line in log.read_text().splitlines():
        parts = line.split()[1:]  # after the timestamp: event, thread, id
        if len(parts) == 3 and parts[0] in ("P", "c", "C", "R", "S"):
            if parts[0] in ("P", "c"):
                open_ids[parts[2]] = parts[0]
            else:
                open_ids.pop(parts[2], None)
    return {w for w, e in open_ids.items() if e == "P"}


def _check_books(r: dict) -> None:
    assert r["status"] == "complete", r.get("error")
    assert r["drained"] and r["processes_left"] == 0
    assert not any(_alive(pid) for pid in r["node_pids"])
    assert r["acked"] > 50
    assert r["completed"] + r["rescheduled_then_completed"] + r["orphaned_running"] + r["lost"] == r["acked"]
    assert r["completed_once"] + r["completed_twice"] == r["completed"] + r["rescheduled_then_completed"]
    # Redis' own counter of completions agrees with the audit
    assert r["counters"]["count_completed"] == r["completed"] + r["rescheduled_then_completed"] + (
        (r["poisoned"] or {}).get("ran", 0))


def test_graceful_stop_reschedules_every_running_work_and_loses_nothing(rcap_base_dir, tmp_path):
    path = run_node_stop(_short("graceful", rcap_base_dir), tmp_path)
    r = json.loads(path.read_text())
    _check_books(r)
    assert r["orphaned_running"] == 0 and r["lost"] == 0 and r["orphaned_bytes"] == 0
    assert r["stop_exit"] == 0
    assert r["rescheduled"] > 0 and r["rescheduled_then_completed"] == r["rescheduled"]
    assert r["counters"]["count_canceled"] == r["rescheduled"]  # cancelled-running-work counts each one
    assert r["counters"]["scard_run"] == 0 and r["counters"]["count_running"] == 0
    assert r["await_completion_finishes"] is True
    run_dir = path.parent
    assert {"manifest.json", "events.jsonl", "result.json"} <= {p.name for p in run_dir.iterdir()}
    assert json.loads((run_dir / "manifest.json").read_text())["kind"] == "experiment"


def test_graceful_stop_runs_twice_the_works_that_ignore_the_interrupt(rcap_base_dir, tmp_path):
    r = json.loads(run_node_stop(_short("graceful", rcap_base_dir, interruptible=False), tmp_path).read_text())
    _check_books(r)
    assert r["orphaned_running"] == 0 and r["lost"] == 0
    # their side effects were done on the stopping node, and they ran again on a survivor
    assert 0 < r["completed_twice"] <= r["rescheduled"] == r["rescheduled_then_completed"]


def test_crash_orphans_exactly_the_in_flight_works_and_a_rescheduled_orphan_never_runs(rcap_base_dir, tmp_path):
    path = run_node_stop(_short("crash", rcap_base_dir, poison_sample=3), tmp_path)
    r = json.loads(path.read_text())
    _check_books(r)
    assert r["lost"] == 0 and r["rescheduled"] == 0
    in_flight = _popped_not_finished(path.parent / "nodes" / "node-1.log")
    c = r["crash"]
    if c["completing_at_crash"] == 0 and c["pending_pops_at_crash"] == 0:  # no reply lost in the kill
        assert r["orphaned_running"] == len(in_flight)
        assert c["orphaned_equals_in_flight"] is True
    else:  # a kill between Redis' reply and the log line: bounded by what was in the air
        assert len(in_flight) - c["completing_at_crash"] <= r["orphaned_running"]
        assert r["orphaned_running"] <= len(in_flight) + c["completing_at_crash"] + c["pending_pops_at_crash"]
    assert r["orphaned_running"] > 0
    # they stay "running" forever: counters and sets agree, and an awaitCompletion would never finish
    assert r["counters"]["count_running"] == r["counters"]["scard_run"] == r["orphaned_running"]
    assert r["counter_drift_running"] == 0 and r["await_completion_finishes"] is False
    assert r["counters"]["hlen_data"] == r["counters"]["hlen_state"] == r["orphaned_running"]
    assert r["orphaned_bytes"] > r["orphaned_running"] * r["model"]["payload_bytes_mean"]
    p = r["poisoned"]
    assert p["sample"] == min(3, r["orphaned_running"]) and p["ran"] == 0 and p["never_ran"] == p["sample"]
    assert p["cycling_pop_work_per_s"] > 0 and p["queue_length_after"] == p["sample"]
    load = p["under_load"]  # a burst at the same rate before and after: every burst work completes
    assert load["baseline"]["completed"] == load["baseline"]["scheduled"] > 0
    assert load["poisoned"]["completed"] == load["poisoned"]["scheduled"] > 0
    assert load["baseline"]["cycling_pop_work_per_s"] == 0 < load["poisoned"]["cycling_pop_work_per_s"]


def test_cli_against_a_url_target_deletes_only_its_own_keys(standalone, standalone_client, tmp_path, capsys):
    standalone_client.set("rcap:someone-else", "keep")
    rc = main(["node-stop", "--target", standalone.target.url, "--mode", "crash", "--at", "1s", "--duration", "2s",
               "--rate", "30", "--work-ms", "200", "--poison-sample", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    r = json.loads(Path(out[-1]).read_text())  # the result path is the last line of stdout
    assert r["status"] == "complete" and r["topology"] == "external" and r["audit_adds_up"]
    assert standalone_client.get("rcap:someone-else") == b"keep"
    assert list(standalone_client.scan_iter(match="rcap:ns*")) == []


def test_sentinel_topology_runs(rcap_base_dir, tmp_path):
    r = json.loads(run_node_stop(_short("crash", rcap_base_dir, topology="sentinel", poison_sample=1),
                                 tmp_path).read_text())
    _check_books(r)
    assert r["topology"] == "sentinel" and r["lost"] == 0 and r["orphaned_running"] > 0


@pytest.mark.parametrize("argv, needle", [
    (["node-stop", "--mode", "crash", "--at", "10s", "--duration", "5s"], "--at"),
    (["node-stop", "--mode", "crash", "--nodes", "1"], "--nodes"),
    (["node-stop", "--mode", "crash", "--rate", "nan"], "finite"),
    (["node-stop", "--mode", "graceful", "--work-ms", "inf"], "finite"),
    (["node-stop", "--mode", "crash", "--rate", "5000"], "would not be drained"),
    (["node-stop", "--mode", "crash", "--at", "soon"], "nonsense duration"),
    (["node-stop", "--mode", "crash", "--target", "redis+cluster://127.0.0.1:1"], "cluster"),
    (["node-stop", "--mode", "crash", "--target", "redis://127.0.0.1:1"], "connection refused"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # NaN and infinity are refused by the parser itself (rcapcore.validate)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def _leave_orphans(wm: WorkManagerClient, queue: str, n: int, prefix: str) -> list[str]:
    """What a crash leaves: n works scheduled and popped, never completed."""
    factory = PayloadFactory(3)
    ids = [f"{prefix}orphan.{i}" for i in range(n)]
    for wid in ids:
        wm.schedule(queue, wid, factory.payload(wid, 1100))
    for _ in ids:
        assert wm.pop(queue) is not None
    return ids


def test_orphan_bytes_model_against_memory_usage(standalone_client):
    wm = WorkManagerClient(standalone_client, prefix="rcap:m:")
    wm.load_scripts()
    keys = wm.commands("default").keys
    n = 20
    ids = _leave_orphans(wm, "default", n, "1234567890123.")
    measured = sum(int(standalone_client.execute_command("MEMORY", "USAGE", k, "SAMPLES", "0"))
                   for k in (keys.data, keys.state, keys.run))
    payload = len(standalone_client.hget(keys.data, ids[0]))
    predicted = n * orphan_bytes_per_work(payload, id_bytes=len(ids[0]), prefix="rcap:m:", n=n)
    assert abs(predicted - measured) / measured < 0.10
    # Little's law: 30 works/s × 0.2 s = 6 running; capped by the threads when saturated
    assert orphans_per_stop(30.0, 0.2) == pytest.approx(6.0)
    assert orphans_per_stop(100.0, 2.5, threads=4) == 4.0


def test_validation_compares_predicted_and_measured():
    rows = [{"mode": "crash", "run_id": "a", "model": {"predicted_works": 2.0, "measured_works": 3, "error_works": 1.0},
             "orphaned_bytes": 100},
            {"mode": "crash", "run_id": "b",
             "model": {"predicted_works": 2.0, "measured_works": 1, "error_works": -1.0},
             "orphaned_bytes": 50}]
    v = validation(rows)
    assert v["predicted_median"] == 2.0 and v["measured_median"] == 2.0 and v["error_pct"] == 0.0
    assert validation([])["rows"] == []


@pytest.mark.parametrize("mode", ["requeue", "remove"])
def test_documented_recovery_script(standalone_client, mode):
    doc = (ROOT / "docs" / "failover.md").read_text()
    script = RECOVERY.read_text()
    assert script.strip() in doc  # the procedure shows the very script that is tested here
    wm = WorkManagerClient(standalone_client, prefix="rcap:r:")
    wm.load_scripts()
    keys = wm.commands("default").keys
    ids = _leave_orphans(wm, "default", 3, "")
    # one orphan id was scheduled again after the crash: it cycles and never runs
    wm.schedule("default", ids[0], PayloadFactory(4).payload(ids[0], 1100))
    assert wm.pop("default") is None and standalone_client.llen(keys.queue) == 1
    listed = standalone_client.eval(script, 8, *keys.script_keys(), "list")
    assert listed[1] == 3 and standalone_client.scard(keys.run) == 3  # list changes nothing
    reply = standalone_client.eval(script, 8, *keys.script_keys(), mode)
    assert standalone_client.scard(keys.run) == 0
    ran = set()
    while (w := wm.pop("default")) is not None:
        ran.add(w.work_id)
        wm.completed("default", w.work_id)
    if mode == "requeue":
        assert reply[2:] == [3, 0] and ran == set(ids)
    else:  # the re-scheduled one is a new request and runs; the others are gone
        assert reply[2:] == [1, 2] and ran == {ids[0]}
    assert standalone_client.hlen(keys.data) == 0 and standalone_client.hlen(keys.state) == 0
    c = wm.counters("default")
    assert c.running == 0 and c.scheduled == 0  # an awaitCompletion would now finish
    standalone_client.eval(script, 8, *keys.script_keys(), "list")
    with pytest.raises(Exception, match="list, requeue or remove"):
        standalone_client.eval(script, 8, *keys.script_keys(), "purge")


def test_report_section_uses_the_target_rates_and_the_recorded_runs():
    from analysis.report import failover, runset
    from analysis.sizing import traffic_of

    ctx = runset.context(ROOT / "data/targets/example.yaml", [ROOT / "data/reference"])
    sec = failover.node_stop_section(ctx)
    b = ctx.target.business
    per_node = traffic_of(ctx.target).works_per_s / b.nodes
    assert sec.values["orphaned_works_per_crash"] == pytest.approx(per_node * b.work_processing_ms / 1000)
    crash = [json.loads(p.read_text()) for p in (ROOT / "data/reference").glob("*node-stop-crash*/result.json")]
    assert crash, "a reference crash run is committed"
    text = "\n".join(i for i in sec.items if isinstance(i, str))
    assert f"median {crash[0]['orphaned_running']} orphaned works" in text
    assert "never finish" in text and "docs/failover.md" in text
