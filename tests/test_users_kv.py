"""KV users in a real Locust run: the §2.1 operation mix, the §2.3 batch upload, and kv-set-1k."""

from __future__ import annotations

import re

from locust_runner import read_counters, read_latency, run_locust


def test_kv_mix_and_batch_upload_use_the_spec_keys(standalone_target, standalone_client, tmp_path):
    # drain_s: a batch upload is 74 round trips (Corrections 2); on a busy machine one in flight at the
    # end needs more than half a second to finish and drop its keys
    run_locust("kv", {"users": "4", "rate": "400", "keyspace": "200", "drain_s": "3"},
               standalone_target, tmp_path, seconds=4)
    ops = {r["op"] for r in read_latency(tmp_path) if r["count"]}
    assert {"GET", "SET", "SETEX", "MGET", "INCRBY", "EXPIRE", "PERSIST", "DEL", "EVALSHA compare-null-and-set",
            "EVALSHA compare-and-set", "EVALSHA compare-and-del", "pattern batch-upload"} <= ops
    assert read_counters(tmp_path)["batch_uploads"] > 0
    keys = [k.decode() for k in standalone_client.scan_iter(match="*", count=1000)]
    assert keys and all(k.startswith("rcap:") for k in keys)
    pattern = re.compile(r"^rcap:(kv:[knc]\d+|transient_BatchManagerCache:__blobsize__)$")
    assert [k for k in keys if not pattern.match(k)] == []
    # every dropped batch left nothing but the shared size counter (spec §2.3)
    assert standalone_client.get("rcap:transient_BatchManagerCache:__blobsize__") == b"0"
    ttl = standalone_client.ttl(next(k for k in keys if k.startswith("rcap:kv:k")))
    assert ttl == -1 or 1 <= ttl <= 3600


def test_kv_set_1k_writes_1024_byte_values(standalone_target, standalone_client, tmp_path):
    standalone_client.config_resetstat()  # rcap started this server: its stats are ours to reset
    run_locust("kv-set-1k", {"users": "5", "keyspace": "50", "drain_s": "0.2"}, standalone_target, tmp_path, seconds=2)
    keys = list(standalone_client.scan_iter(match="rcap:kv:*"))
    assert 0 < len(keys) <= 50
    assert {standalone_client.strlen(k) for k in keys} == {1024}
    sets = sum(r["count"] for r in read_latency(tmp_path) if r["op"] == "SET")
    info = standalone_client.info("commandstats")["cmdstat_set"]["calls"]
    assert sets == info  # every SET sent was recorded once (the loop stops cleanly)


def test_kv_and_pubsub_on_a_cluster(topology_factory, tmp_path):
    topo = topology_factory("cluster")
    run_locust("kv", {"users": "3", "rate": "300", "keyspace": "300", "drain_s": "0.5"}, topo.target,
               tmp_path / "kv", seconds=3)
    errors = sum(r["errors"] for r in read_latency(tmp_path / "kv"))
    assert errors == 0  # multi-slot MGETs were split per slot, scripts touch one key each
    assert {"MGET", "EVALSHA compare-and-set", "pattern batch-upload"} <= {r["op"] for r in read_latency(tmp_path / "kv")}
    run_locust("pubsub", {"nodes": "2", "publishers": "2", "rate": "100"}, topo.target, tmp_path / "ps", seconds=3)
    m = read_counters(tmp_path / "ps")["messages"]
    assert m["published"] > 50 and m["delivered"] == 2 * m["published"] and m["lost"] == 0


def test_lost_connections_are_errors_and_the_run_goes_on(standalone_target, standalone_client, tmp_path):
    import subprocess
    import sys
    import time

    from locust_runner import LOCUSTFILE, locust_env
    from loadgen.scenarios import load_scenario

    scenario = load_scenario("kv", {"users": "4", "rate": "400", "mix": "{get: 1}", "keyspace": "10",
                                    "drain_s": "0.2", "gc_period_s": "0"})
    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(scenario.users),
                             "-r", str(scenario.users), "-t", "5s", "--only-summary", "--loglevel", "WARNING",
                             "--exit-code-on-error", "0"],
                            env=locust_env(scenario, standalone_target, tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        killed = standalone_client.client_kill_filter(_type="normal", skipme=True)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert killed >= 4
    latency = read_latency(tmp_path)
    errors = sum(r["errors"] for r in latency)
    assert 1 <= errors <= killed  # each killed user connection fails one request...
    t_error = min(r["t"] for r in latency if r["errors"])
    assert sum(r["count"] for r in latency if r["t"] > t_error + 1) > 300  # ...and the run goes on
