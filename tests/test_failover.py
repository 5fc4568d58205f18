"""Fault experiments against real redis-server / sentinel processes (short lab timeouts).

Each experiment starts and stops its own topology under the session's ``rcap_base_dir``; the partition
test also checks that no iptables chain is left behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading

import pytest

from rcap.cli import main
from rcap.failover import partition as netpart
from rcap.failover.master_loss import FailoverSpec, run_failover
from rcap.failover.restart import RestartSpec, run_restart
from rcap.failover.workload import LoadSpec

RESULT_KEYS = {"unavailability_ms", "promotion_ms", "acked", "acked_present", "acked_lost", "duplicates",
               "pubsub_missed"}


def _iptables_usable() -> bool:
    try:
        netpart.check_available()
        return True
    except Exception:  # noqa: BLE001  (no iptables here: the partition tests are skipped)
        return False


needs_iptables = pytest.mark.skipif(not _iptables_usable(), reason="partitions need root and iptables")


def _events(run_dir) -> list[dict]:
    with open(run_dir / "events.jsonl") as fh:
        return [json.loads(line) for line in fh]


def _our_chains() -> list[str]:
    out = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"{netpart.CHAIN_PREFIX}{os.getpid()}" in line]


def test_sentinel_kill_finds_the_new_master_and_the_audit_adds_up(rcap_base_dir, tmp_path):
    spec = FailoverSpec(topology="sentinel", fault="kill", at_s=2, fault_s=4, duration_s=9, down_after_ms=1000,
                        failover_timeout_ms=3000, seed=7, base_dir=str(rcap_base_dir),
                        load=LoadSpec(schedule_rate=100, pubsub_rate=40, kv_rate=40))
    path = run_failover(spec, tmp_path)
    result = json.loads(path.read_text())
    assert RESULT_KEYS <= result.keys()
    assert result["status"] == "complete", result.get("error")
    assert result["failover_happened"] and result["new_master"] != result["old_master"]
    # Sentinel's own timeline, in order
    assert 0 < result["detection_ms"] <= result["odown_ms"] <= result["promotion_ms"] < 15_000
    # the clients lost the master, then got through again: a finite, closed window
    assert result["unavailability_closed"] and 0 < result["unavailability_ms"] < 15_000
    assert result["errors"], "killing the master must cost the clients some errors"
    assert result["acked"] > 100
    assert result["acked"] == result["acked_present"] + result["acked_lost"]
    assert sum(result["acked_by_state"].values()) == result["acked"]
    assert result["load_crashes"] == []
    events = _events(path.parent)
    kinds = [e["kind"] for e in events]
    assert kinds.index("load_start") < kinds.index("fault_start") < kinds.index("fault_end") < kinds.index("audit")
    assert any(e.get("event") == "+switch-master" for e in events if e["kind"] == "sentinel")
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["experiment"] == "failover"
    assert any(name.endswith(".jsonl") for name in os.listdir(path.parent / "server"))


def test_wait_for_a_replica_keeps_every_acknowledged_work_through_a_kill(rcap_base_dir, tmp_path):
    spec = FailoverSpec(topology="sentinel", fault="kill", at_s=2, fault_s=4, duration_s=9, down_after_ms=1000,
                        failover_timeout_ms=3000, seed=11, base_dir=str(rcap_base_dir),
                        load=LoadSpec(schedule_rate=150, wait_replicas=1, workloads=("workmanager",)))
    result = json.loads(run_failover(spec, tmp_path).read_text())
    assert result["status"] == "complete", result.get("error")
    assert result["load_crashes"] == []  # the new master answers NOSCRIPT: scripts are reloaded, not fatal
    assert result["failover_happened"] and result["acked"] > 300
    # each acknowledged schedule reached a replica, and Sentinel promotes the most up-to-date one
    assert result["acked_lost"] == 0 and result["acked_present"] == result["acked"]


@needs_iptables
def test_partition_loses_acknowledged_works_and_the_loadgen_survives(rcap_base_dir, tmp_path):
    # producers outrun consumers (150/s vs 2 × 50/s), so the old master holds unconsumed works when cut off
    spec = FailoverSpec(topology="sentinel", fault="partition", at_s=2, fault_s=5, duration_s=10,
                        down_after_ms=1000, failover_timeout_ms=3000, seed=3, base_dir=str(rcap_base_dir),
                        load=LoadSpec(schedule_rate=150, work_ms=20, pubsub_rate=40, kv_rate=40))
    path = run_failover(spec, tmp_path)
    result = json.loads(path.read_text())
    assert result["status"] == "complete", result.get("error")
    assert result["failover_happened"]
    assert result["acked_lost"] > 0, "a partitioned master acknowledges writes that the new master never sees"
    assert result["acked"] == result["acked_present"] + result["acked_lost"]
    assert result["kv_acked_lost"] > 0
    assert result["load_crashes"] == []
    lost_from, lost_to = result["lost_acked_between_s"]
    assert result["fault_start_s"] <= lost_from <= lost_to <= result["fault_end_s"]
    assert _our_chains() == [], "the partition's iptables chain must be gone"


@needs_iptables
def test_partition_really_drops_traffic_between_the_addresses_and_heals():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.10", 0))
    server.listen(8)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()

    def reaches(src: str) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            s.bind((src, 0))
            try:
                s.connect(("127.0.0.10", port))
                return True
            except OSError:
                return False

    try:
        cut = netpart.Partition(isolated="127.0.0.10", peers=["127.0.0.11"])
        with cut:
            assert not reaches("127.0.0.11")
            assert reaches("127.0.0.12") and reaches("127.0.0.1")  # only the named pair is cut
        assert reaches("127.0.0.11")
        assert cut.cut_at is not None and cut.healed_at >= cut.cut_at
        assert _our_chains() == []
    finally:
        stop.set()
        server.close()


def test_restart_counts_survivors_per_persistence(rcap_base_dir, tmp_path):
    spec = RestartSpec(works=300, completed_fraction=0.2, stop="kill", base_dir=str(rcap_base_dir))
    result = json.loads(run_restart(spec, tmp_path).read_text())
    assert result["status"] == "complete"
    by = {s["persistence"]: s for s in result["settings"]}
    assert set(by) == {"none", "rdb", "aof"}
    for s in by.values():
        assert s["pending_before"] == 300 - s["completed_before_stop"]
        assert s["survived"] + s["lost"] == s["pending_before"]
    assert by["none"]["survived"] == 0           # nothing on disk
    assert by["rdb"]["survived"] == 0            # no save point reached before the crash
    assert by["aof"]["survived"] == by["aof"]["pending_before"]  # written to the AOF before the reply


def test_memory_wall_reports_the_backlog_at_oom(rcap_base_dir, tmp_path, capsys):
    rc = main(["memory-wall", "--maxmemory", "8mb", "--out", str(tmp_path), "--seed", "5"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    result = json.loads(open(out[-1]).read())  # the last line of stdout is the result path
    assert result["status"] == "complete"
    assert result["backlog_at_wall"] > 0 and result["first_oom_error"].startswith("OOM")
    assert result["used_memory_at_wall_bytes"] > 0.9 * result["maxmemory_bytes"]
    assert result["refused_after_wall"] == result["confirm_attempts"]  # writes stay refused
    assert result["popped_at_wall"] > 0 and result["schedule_after_drain_ok"]  # consumers can drain
    assert result["rule_of_thumb"]["predicted_backlog"] > 0
    # the mass-operation scenario's rates: the backlog is what was scheduled minus what was consumed
    assert result["scenario"] == "mass-operation" and result["consume_rate"] < result["schedule_rate"]
    assert result["backlog_at_wall"] == result["acked"] - result["consumed_before_wall"]


@pytest.mark.parametrize("argv, needle", [
    (["failover", "--at", "soon"], "nonsense duration"),
    (["failover", "--at", "30s", "--fault-duration", "20s", "--duration", "40s"], "must end before"),
    (["failover", "--workloads", "kv"], "workmanager"),
    (["memory-wall", "--maxmemory", "lots"], "bad size"),
    (["memory-wall", "--rate", "10", "--consume-rate", "20"], "consume rate < schedule rate"),
    (["restart-test", "--persistence", "none,zfs"], "--persistence"),
    (["failover", "--prefix", "rcap*"], "prefix"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and err[0].startswith("rcap: error:")


def test_enterprise_endpoint_moves_and_the_password_stays_out_of_the_run(rcap_base_dir, tmp_path, monkeypatch):
    password = "fo-secret-Zq81x"
    monkeypatch.setattr("rcap.failover.master_loss.secrets.token_urlsafe", lambda _n: password)
    spec = FailoverSpec(topology="enterprise", fault="kill", at_s=2, fault_s=4, duration_s=9, down_after_ms=1000,
                        failover_timeout_ms=3000, base_dir=str(rcap_base_dir),
                        load=LoadSpec(schedule_rate=100, workloads=("workmanager", "pubsub")))
    path = run_failover(spec, tmp_path)
    result = json.loads(path.read_text())
    assert result["status"] == "complete", result.get("error")
    assert result["failover_happened"] and result["follow"] == "errors"  # one endpoint, no sentinel events
    assert result["unavailability_closed"] and 0 < result["unavailability_ms"] < 15_000
    assert result["acked"] == result["acked_present"] + result["acked_lost"]
    for file in path.parent.rglob("*"):
        if file.is_file():
            assert password.encode() not in file.read_bytes(), file.name
