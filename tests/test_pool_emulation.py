"""``pool: nuxeo`` (spec Corrections 8) against a real redis-server: at most 15 commands in flight per
emulated node (16 with the PubSub connection), connections beyond 8 idle closed and reopened."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loadgen.errors import BadInput
from loadgen.nuxeo.pool import node_pool
from loadgen.scenarios import load_scenario
from locust_runner import LOCUSTFILE, locust_env, read_counters


def _run(topo, tmp_path, pool: str, seconds: int = 5) -> tuple[dict, int, int]:
    """A busy idle-free WorkManager node (closed-loop producers, no processing time): counters, the most
    client connections the server saw (test client excluded) and the connections it accepted."""
    scenario = load_scenario("workmanager", {"pool": pool, "rate": "null", "producers": "8", "nodes": "1",
                                             "processing_ms": "0", "drain_s": "0.3"})
    client = topo.client()
    accepted0 = int(client.info("stats")["total_connections_received"])
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(scenario.users),
            "-r", str(scenario.users), "-t", f"{seconds}s", "--only-summary", "--loglevel", "WARNING",
            "--exit-code-on-error", "0"]
    proc = subprocess.Popen(argv, env=locust_env(scenario, topo.target, tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    most = 0
    try:
        while proc.poll() is None:
            most = max(most, int(client.info("clients")["connected_clients"]) - 1)
            time.sleep(0.05)
        accepted = int(client.info("stats")["total_connections_received"]) - accepted0
    finally:
        _, err = proc.communicate(timeout=60)
        client.close()
    assert proc.returncode == 0, err[-2000:]
    return read_counters(tmp_path), most, accepted


def test_nuxeo_pool_caps_in_flight_commands_and_churns(topology_factory, tmp_path):
    topo = topology_factory("standalone")
    limits = node_pool("standalone")
    c, most, accepted = _run(topo, tmp_path / "nuxeo", "nuxeo")
    t = c["totals"]
    assert c["works"]["completed"] > 100
    assert 8 < t["pool_max_in_flight_per_node"] <= limits.command_connections == 15
    assert t["pool_connections_closed"] > 0  # returned beyond 8 idle: closed, reopened later
    assert t["pool_connections_opened"] > limits.command_connections
    # the server never saw more than the pool's connections (+ the start-up/reader connections of the run,
    # and, on a busy machine, a few churned connections the server has not reaped yet)
    assert most <= limits.command_connections + 6
    persistent, most_p, accepted_p = _run(topology_factory("standalone"), tmp_path / "persistent", "persistent")
    users = load_scenario("workmanager", {"producers": "8", "nodes": "1"}).users
    assert most_p >= users > most  # one connection per user
    # the server accepted every connection the pools opened (churn is real reconnects, not bookkeeping)
    assert accepted >= t["pool_connections_opened"]
    print(f"nuxeo pool: {t['pool_connections_opened']} opened, {t['pool_connections_closed']} closed, "
          f"≤ {most} open; persistent: ≤ {most_p} open, {accepted_p} accepted")


def test_pool_mode_is_checked():
    with pytest.raises(BadInput, match="pool must be persistent"):
        load_scenario("kv", {"pool": "jedis"})


def test_sentinel_targets_get_jedis_default_pool():
    from loadgen.users.pool import node_pools

    # Nuxeo's sentinel mode ignores maxTotal/maxIdle: commons-pool's 8 / 8, one held by PubSub
    sentinel = node_pools(2, lambda: None, "sentinel")
    assert len(sentinel) == 2 and (sentinel[0].max_active, sentinel[0].max_idle) == (7, 8)
    assert (node_pools(1, lambda: None, "standalone")[0].max_active, node_pools(1, lambda: None, "standalone")[0]
            .max_idle) == (15, 8)
