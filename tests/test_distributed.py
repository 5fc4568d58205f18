"""Locust master + 2 workers on localhost: the master's merged counts equal the sum of the workers'."""

from __future__ import annotations

import socket
import subprocess
import sys

from locust_runner import LOCUSTFILE, locust_env, read_counters, read_latency
from loadgen.scenarios import load_scenario


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_master_and_two_workers_merge_exactly(standalone_target, standalone_client, tmp_path):
    scenario = load_scenario("kv", {"users": "6", "rate": "600", "keyspace": "100", "drain_s": "0.5",
                                    "mix": "{get: 3, set: 2}"})
    port = _free_port()
    env = locust_env(scenario, standalone_target, tmp_path)
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
    standalone_client.config_resetstat()  # rcap started this server: its stats are ours to reset
    master = subprocess.Popen(base + ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                                      "--headless", "--expect-workers", "2", "-u", str(scenario.users), "-r", str(scenario.users), "-t", "5s",
                                      "--only-summary", "--exit-code-on-error", "0",
                                      "--csv", str(tmp_path / "locust")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen(base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        _, master_err = master.communicate(timeout=60)
        for w in workers:
            w.communicate(timeout=30)
    finally:
        for p in [master, *workers]:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert master.returncode == 0, master_err[-2000:]

    latency = read_latency(tmp_path)
    merged = {op: sum(r["count"] for r in latency if r["op"] == op and r["kind"] == "measured")
              for op in ("GET", "SET")}
    # the sum of both workers' requests, as Redis itself counted them (nothing killed in flight; no
    # scripts in this mix, whose inner GET/SET would count too)
    stats = standalone_client.info("commandstats")
    redis_calls = {"GET": stats["cmdstat_get"]["calls"], "SET": stats["cmdstat_set"]["calls"]}
    assert merged == redis_calls and merged["GET"] > 500
    # Locust's own merged stats (fed per worker from the same samples) agree too
    rows = (tmp_path / "locust_stats.csv").read_text().splitlines()
    header = rows[0].split(",")
    total = next(r.split(",") for r in rows if ",Aggregated," in r)
    assert int(total[header.index("Request Count")]) == sum(merged.values())
    # both workers contributed: one second holds samples from each (one line per op per second)
    assert len({r["t"] for r in latency}) >= 4
    assert read_counters(tmp_path)["workload"] == "kv"


def test_processes_mode_forks_workers_and_merges(standalone_target, standalone_client, tmp_path):
    from locust_runner import run_locust  # noqa: PLC0415

    standalone_client.config_resetstat()  # rcap started this server: its stats are ours to reset
    run_locust("kv-set-1k", {"users": "8", "keyspace": "100", "drain_s": "0.3"}, standalone_target, tmp_path,
               seconds=4, extra=["--processes", "2"])
    sets = sum(r["count"] for r in read_latency(tmp_path) if r["op"] == "SET" and r["kind"] == "measured")
    assert sets > 1000 and sets == standalone_client.info("commandstats")["cmdstat_set"]["calls"]


def test_recorded_run_with_two_rcap_workers(standalone_target, standalone_client, tmp_path):
    """rcap bench --expect-workers 2 records a normal run (manifest, summary, server telemetry) while two
    `rcap worker` processes make the load; the summary's counts equal Redis's own commandstats."""
    import json
    from pathlib import Path

    from analysis.runs import load_run

    rcap = str(Path(sys.executable).with_name("rcap"))
    port = _free_port()
    standalone_client.config_resetstat()  # rcap started this server: its stats are ours to reset
    bench = subprocess.Popen([rcap, "bench", "kv", "--target", standalone_target.url, "--duration", "5s",
                              "--no-progress", "--out", str(tmp_path), "--prefix", "rcap-dist:",
                              "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
                              "--master-bind-port", str(port), "--workers-timeout", "60s",
                              "--set", "users=6", "--set", "rate=600", "--set", "mix={get: 3, set: 2}",
                              "--set", "keyspace=100"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen([rcap, "worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        out, err = bench.communicate(timeout=120)
        for w in workers:
            w.communicate(timeout=30)
    finally:
        for p in [bench, *workers]:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert bench.returncode == 0, err[-2000:]
    run = load_run(out.strip().splitlines()[-1])
    stats = standalone_client.info("commandstats")
    assert run.summary["ops"]["GET"]["count"] == stats["cmdstat_get"]["calls"] > 500
    assert run.summary["ops"]["SET"]["count"] == stats["cmdstat_set"]["calls"]
    assert run.status == "complete" and len(list((run.path / "server").glob("*.jsonl"))) == 1
    assert len(run.manifest["workers"]) == 2 and all(w["samples"] >= 1 for w in run.manifest["workers"])
    assert json.loads((run.path / "workers.json").read_text()) == run.manifest["workers"]


def test_missing_workers_fail_with_a_clear_line(standalone_target, tmp_path):
    from pathlib import Path

    rcap = str(Path(sys.executable).with_name("rcap"))
    proc = subprocess.run([rcap, "bench", "kv", "--target", standalone_target.url, "--duration", "2s",
                           "--no-progress", "--out", str(tmp_path), "--prefix", "rcap-dist2:",
                           "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
                           "--master-bind-port", str(_free_port()), "--workers-timeout", "2s"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "fewer than 1 workers connected within 2 s" in proc.stderr and "rcap worker" in proc.stderr
