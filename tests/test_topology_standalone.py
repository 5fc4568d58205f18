"""The standalone topology and the process rules every topology shares (real redis-server processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from loadgen import topology
from rcapcore.errors import BadInput, TopologyError


def test_standalone_fixture_is_reachable_through_its_url(standalone, standalone_client):
    assert standalone.target.url.startswith("redis://127.0.0.1:")
    standalone_client.set("rcap:probe", "1")
    fresh = topology.connect(topology.Target.parse(standalone.target.url))
    assert fresh.get("rcap:probe") == b"1"
    fresh.close()
    info = topology.check(standalone.target)
    assert info["redis_version"] == standalone.binary.version
    assert topology.server_nodes(standalone.target) == [("master", "127.0.0.1", standalone.nodes[0].port)]


def test_options_reach_the_server(topology_factory):
    topo = topology_factory("standalone", password="p@ss word", maxmemory="64mb",
                            maxmemory_policy="allkeys-lru", persistence="aof")
    client = topo.client()
    assert client.config_get("maxmemory") == {"maxmemory": str(64 * 1024**2)}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    client.close()
    state = open(os.path.join(topo.dir, "topology.json")).read()
    assert "p@ss word" not in state
    assert oct(os.stat(os.path.join(topo.dir, "redis-1", "redis.conf")).st_mode & 0o777) == "0o600"


def test_down_leaves_no_process_and_no_folder(topology_factory, rcap_base_dir):
    topo = topology_factory("standalone", tls=True)
    pids = [n.pid for n in topo.nodes]
    assert all(psutil.pid_exists(p) for p in pids)
    topology.down(topo.name, base_dir=rcap_base_dir)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert not os.path.exists(topo.dir)
    assert topo.name not in [t.name for t in topology.status(rcap_base_dir)]


def test_port_base_in_use_is_a_clear_error(standalone, rcap_base_dir):
    with pytest.raises(TopologyError, match=r"port \d+ on 127.0.0.1 is in use"):
        topology.up("standalone", port_base=standalone.nodes[0].port, base_dir=rcap_base_dir)
    assert [t.name for t in topology.status(rcap_base_dir)] == [standalone.name]


def test_unknown_kind_and_bad_options(rcap_base_dir):
    with pytest.raises(BadInput, match="unknown topology 'galaxy'"):
        topology.up("galaxy", base_dir=rcap_base_dir)
    with pytest.raises(BadInput, match="maxmemory policy"):
        topology.up("standalone", maxmemory_policy="lru", base_dir=rcap_base_dir)
    with pytest.raises(TopologyError, match="redis-server not found"):
        topology.up("standalone", redis_server="/nonexistent/redis-server", base_dir=rcap_base_dir)


def test_killed_owner_leaves_no_orphan(tmp_path):
    """A Python owner killed with SIGKILL takes its redis-server with it (PR_SET_PDEATHSIG)."""
    script = textwrap.dedent(f"""
        import sys, time
        from loadgen import topology
        topo = topology.up("standalone", base_dir={str(tmp_path)!r})
        print(topo.nodes[0].pid, flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        redis_pid = int(owner.stdout.readline())
        assert psutil.pid_exists(redis_pid)
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 5
    while psutil.pid_exists(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(redis_pid)
    assert topology.status(tmp_path) == []  # the stale folder is reaped
    assert list(tmp_path.iterdir()) == []


def test_an_owned_topology_with_its_nodes_down_is_not_reaped(topology_factory, rcap_base_dir):
    """Fault experiments stop every node on purpose: only a dead owner makes a topology stale."""
    topo = topology_factory("standalone")
    topo.kill_node("redis-1")
    assert topo.name in [t.name for t in topology.status(rcap_base_dir)]
    restarted = topo.start_node("redis-1")
    assert topology.connect(topo.target).ping() and restarted.alive()


@pytest.mark.parametrize("persistence, save, appendonly", [("rdb", "3600 1 300 100 60 10000", "no"),
                                                            ("none", "", "no")])
def test_persistence_modes(topology_factory, persistence, save, appendonly):
    client = topology_factory("standalone", persistence=persistence).client()
    assert client.config_get("save") == {"save": save}
    assert client.config_get("appendonly") == {"appendonly": appendonly}
    client.close()
