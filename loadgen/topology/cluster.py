"""``cluster``: OSS Redis Cluster, 3 masters + 3 replicas, created by hand (ADDSLOTS, MEET, REPLICATE).

For what-if runs only: Nuxeo's WorkManager scripts need all their keys in one hash slot.
"""

from __future__ import annotations

import redis

from loadgen.topology.launcher import Launcher
from loadgen.topology.processes import wait_until
from loadgen.topology.targets import Target
from rcapcore.topologies import facts

NAME = "cluster"
MASTERS = facts(NAME).data_nodes // 2  # one replica each
SLOTS = 16384


def _call(lab: Launcher, node, *args):
    client = lab.redis_client(node.host, node.port)
    try:
        return client.execute_command(*args)
    finally:
        client.close()


def _info(lab: Launcher, node, section: str) -> dict:
    client = lab.redis_client(node.host, node.port)
    try:
        return client.info(section) if section != "cluster" else _parse(client.execute_command("CLUSTER INFO"))
    except (redis.RedisError, OSError):
        return {}
    finally:
        client.close()


def _parse(raw) -> dict:
    if isinstance(raw, dict):
        return raw
    text = raw.decode() if isinstance(raw, bytes) else raw
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def build(lab: Launcher, *, tls: bool, down_after_ms: int, timeout_s: float, **_) -> Target:
    if tls:
        lab.make_tls([lab.host(i) for i in range(2 * MASTERS)])
    nodes = [lab.start_redis(f"redis-{i + 1}", "master" if i < MASTERS else "replica", i, cluster=True,
                             cluster_node_timeout_ms=down_after_ms) for i in range(2 * MASTERS)]
    masters, replicas = nodes[:MASTERS], nodes[MASTERS:]
    ids = {}
    for epoch, node in enumerate(nodes, start=1):
        ids[node.name] = _call(lab, node, "CLUSTER", "MYID")
        ids[node.name] = ids[node.name].decode() if isinstance(ids[node.name], bytes) else ids[node.name]
        _call(lab, node, "CLUSTER", "SET-CONFIG-EPOCH", epoch)  # distinct epochs, as redis-cli does
    for i, node in enumerate(masters):
        first, last = i * SLOTS // MASTERS, (i + 1) * SLOTS // MASTERS
        _call(lab, node, "CLUSTER", "ADDSLOTS", *range(first, last))
    for node in nodes[1:]:
        _call(lab, nodes[0], "CLUSTER", "MEET", node.host, node.port)

    def knows(node, other_id) -> bool:
        try:
            return other_id in (_call(lab, node, "CLUSTER", "NODES") or b"").decode()
        except (redis.RedisError, OSError):
            return False

    def replicate() -> bool:
        for replica, master in zip(replicas, masters):
            if not knows(replica, ids[master.name]):
                return False
            role = _info(lab, replica, "replication")
            if role.get("role") != "slave":
                try:
                    _call(lab, replica, "CLUSTER", "REPLICATE", ids[master.name])
                except redis.ResponseError:
                    return False  # not known as a master yet: gossip still spreading
        return True

    wait_until(replicate, timeout_s, "the replicas to join their masters")

    def ready() -> bool:
        for node in nodes:
            state = _info(lab, node, "cluster")
            if state.get("cluster_state") != "ok" or int(state.get("cluster_slots_ok", 0)) != SLOTS \
                    or int(state.get("cluster_known_nodes", 0)) != len(nodes):
                return False
        return all(_info(lab, r, "replication").get("master_link_status") == "up" for r in replicas)

    wait_until(ready, timeout_s, "cluster_state:ok with all slots covered and the replicas attached")
    scheme = facts(NAME).schemes[tls]
    lab.topo.target = Target.parse(f"{scheme}://{masters[0].host}:{masters[0].port}", password=lab.opts.password,
                                   tls_ca=lab.opts.tls.ca if tls else None, topology=NAME)
    return lab.topo.target
