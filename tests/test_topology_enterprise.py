"""Enterprise stand-in: one TLS endpoint with a password that survives a Sentinel failover."""

from __future__ import annotations

import dataclasses
import os
import stat
import time

import pytest
import redis

from loadgen import topology
from rcapcore.errors import BadInput, TargetError
from loadgen.topology.enterprise import backend_states
from loadgen.topology.sentinel import MASTER_NAME


def test_enterprise_tls_password_and_failover(topology_factory):
    topo = topology_factory("enterprise", password="ent-secret")
    target = topo.target
    assert target.url.startswith("rediss://127.0.0.1:") and target.tls_ca and target.topology == "enterprise"
    key = os.path.join(topo.dir, "tls", "server.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert "ent-secret" not in open(os.path.join(topo.dir, "topology.json")).read()

    client = topology.connect(topology.Target.parse(target.url, password="ent-secret", tls_ca=target.tls_ca))
    client.set("rcap:before", "1")
    first_server = client.info("server")["run_id"]
    with pytest.raises(TargetError, match="authentication failed"):
        topology.check(dataclasses.replace(target, password="wrong"))
    with pytest.raises(TargetError, match="use rediss://"):
        topology.check(topology.Target.parse(target.url.replace("rediss", "redis"), password="ent-secret"))

    sentinel = topo.nodes_with_role("sentinel")[0]
    redis.Redis(sentinel.host, sentinel.port).sentinel_failover(MASTER_NAME)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            client.set("rcap:after", "1")
            if client.info("server")["run_id"] != first_server:
                break
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            pass
        time.sleep(0.05)
    assert client.info("server")["run_id"] != first_server, "the endpoint still serves the old master"
    assert backend_states(topo) == {"redis-1": "DOWN", "redis-2": "UP"}
    assert client.get("rcap:before") == b"1"
    new = topo.current_master()
    assert new.name == "redis-2"
    assert redis.Redis(new.host, new.port, password="ent-secret").get("rcap:after") == b"1"
    client.close()


def test_enterprise_requires_a_password(rcap_base_dir):
    with pytest.raises(BadInput, match="needs a password"):
        topology.up("enterprise", base_dir=rcap_base_dir)


def test_enterprise_survives_a_killed_master_and_its_return(topology_factory):
    topo = topology_factory("enterprise", password="pw", down_after_ms=500, failover_timeout_ms=2000)
    client = topo.client()
    client.set("rcap:k", "1")
    old = topo.current_master()
    survivor = next(n for n in topo.nodes_with_role("replica"))
    topo.kill_node(old)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            client.set("rcap:k", "2")
            break
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            time.sleep(0.05)
    # the endpoint moves as soon as the replica is promoted, before the sentinels announce the switch
    assert client.info("server")["tcp_port"] == survivor.port
    back = topo.start_node(old)  # returns as a replica of the promoted node: HAProxy keeps one master
    assert redis.Redis(back.host, back.port, password="pw").info("replication")["role"] == "slave"
    time.sleep(0.5)  # a few HAProxy check intervals
    assert backend_states(topo)[old.name] == "DOWN"
    assert client.get("rcap:k") == b"2"


def test_enterprise_master_restarted_before_any_failover_stays_master(topology_factory):
    topo = topology_factory("enterprise", password="pw", down_after_ms=30000)
    old = topo.current_master()
    topo.kill_node(old)
    back = topo.start_node(old)  # no other master: restarted unchanged, still the endpoint's master
    assert redis.Redis(back.host, back.port, password="pw").info("replication")["role"] == "master"
    client = topo.client()
    assert client.set("rcap:k", "1") and client.info("server")["tcp_port"] == back.port


def test_haproxy_restart_keeps_the_endpoint(topology_factory):
    topo = topology_factory("enterprise", password="pw")
    client = topo.client()
    client.set("rcap:k", "1")
    topo.kill_node("haproxy")
    with pytest.raises(redis.ConnectionError):
        topology.connect(topo.target, retry=None).ping()
    topo.start_node("haproxy")
    deadline = time.monotonic() + 10
    while backend_states(topo).get("redis-1") != "UP" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("rcap:k") == b"1"
