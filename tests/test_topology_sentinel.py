"""Sentinel topology: readiness, failover following, per-node loopback hosts, fault helpers."""

from __future__ import annotations

import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from loadgen import topology
from rcapcore.errors import TopologyError
from loadgen.topology.sentinel import MASTER_NAME


def _failover(topo) -> None:
    sentinel = topo.nodes_with_role("sentinel")[0]
    admin = redis.Redis(sentinel.host, sentinel.port)
    admin.sentinel_failover(MASTER_NAME)
    admin.close()


def _write_until(client, key: str, done, timeout_s: float = 45.0) -> int:
    """INCR ``key`` until ``done()``; returns failed attempts. Errors during the switch are expected.
    Sentinel demotes the old master 8 s after the switch plus up to one 10 s INFO period: allow more."""
    failures = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            client.incr(key)
            if done():
                return failures
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, TopologyError):
            failures += 1  # TopologyError: no sentinel answered in time (a loaded machine)
        time.sleep(0.05)
    raise AssertionError("writes did not resume on a new master in time")


def test_sentinel_client_follows_forced_failover(topology_factory):
    topo = topology_factory("sentinel", password="pw", down_after_ms=1000)
    assert topo.target.url.startswith("redis+sentinel://") and topo.target.url.endswith("/mymaster")
    assert len(topo.nodes_with_role("sentinel")) == 3 and len(topo.nodes_with_role("replica")) == 2
    client = topology.connect(topology.Target.parse(topo.target.url, password="pw"))
    client.set("rcap:before", "1")
    # replication is asynchronous: without WAIT a forced failover may promote a replica that lacks it
    assert client.execute_command("WAIT", 2, 5000) == 2
    old = topo.current_master()
    _failover(topo)

    def on_new_master() -> bool:
        # The sentinels switch first; the old master keeps accepting writes until they demote it, and
        # those writes are lost. Done when this client itself writes to the new master.
        new = topo.current_master()
        return new != old and client.info("server")["tcp_port"] == new.port

    _write_until(client, "rcap:counter", on_new_master)
    client.set("rcap:after", "1")
    new = topo.current_master()
    assert new.name != old.name
    direct = redis.Redis(new.host, new.port, password="pw")
    assert direct.info("replication")["role"] == "master"
    assert direct.get("rcap:after") == b"1" and direct.get("rcap:before") == b"1"
    direct.close()
    client.close()


def test_bind_hosts_and_fault_helpers(topology_factory):
    topo = topology_factory("sentinel", bind_hosts=True)
    hosts = [n.host for n in topo.nodes]
    assert len(set(hosts)) == 6 and all(h.startswith("127.0.0.") and h != "127.0.0.1" for h in hosts)
    roles = {r: (h, p) for r, h, p in topology.server_nodes(topo.target)}
    master = topo.nodes_with_role("master")[0]
    assert roles["master"] == (master.host, master.port)
    assert {(h, p) for r, h, p in topology.server_nodes(topo.target) if r == "replica"} == \
        {(n.host, n.port) for n in topo.nodes_with_role("replica")}

    replica = topo.nodes_with_role("replica")[0]
    topo.stop_node(replica)
    # one attempt: redis-py's default retries would stretch the 0.3 s timeout to seconds
    frozen = redis.Redis(replica.host, replica.port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    try:
        frozen.ping()
        raise AssertionError("a SIGSTOPped node answered")
    except redis.TimeoutError:
        pass
    topo.cont_node(replica)
    assert frozen.ping()
    frozen.close()
    topo.kill_node(replica)
    assert not topo.node(replica).alive()
    restarted = topo.start_node(replica)
    assert restarted.pid != replica.pid and restarted.alive()
    assert redis.Redis(restarted.host, restarted.port).ping()


def test_sentinel_with_tls_and_password(topology_factory):
    topo = topology_factory("sentinel", tls=True, password="pw")
    assert topo.target.url.startswith("rediss+sentinel://") and topo.target.tls_ca
    client = topology.connect(topology.Target.parse(topo.target.url, password="pw", tls_ca=topo.target.tls_ca))
    client.set("rcap:tls", "1")
    assert client.get("rcap:tls") == b"1"
    assert [r for r, _, _ in topology.server_nodes(topo.target)] == ["master", "replica", "replica"]
    assert topo.current_master().name == "redis-1"
    client.close()
