"""``sentinel``: 1 master + 2 replicas watched by 3 sentinels (quorum 2, master name ``mymaster``)."""

from __future__ import annotations

import secrets

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rcapcore.errors import TopologyError
from loadgen.topology.launcher import Launcher
from loadgen.topology.processes import wait_until
from loadgen.topology.redisconf import SentinelPeer, sentinel_conf
from loadgen.topology.targets import Target
from rcapcore.topologies import facts

NAME = "sentinel"
MASTER_NAME = "mymaster"
SENTINELS = facts(NAME).sentinels
QUORUM = 2


def start_data_nodes(lab: Launcher, replicas: int, timeout_s: float):
    """Master ``redis-1`` and replicas ``redis-2``…, returned once every replica has synced."""
    master = lab.start_redis("redis-1", "master", 0)
    nodes = [lab.start_redis(f"redis-{i + 2}", "replica", i + 1, replica_of=(master.host, master.port))
             for i in range(replicas)]

    def synced() -> bool:
        for node in nodes:
            client = lab.redis_client(node.host, node.port)
            try:
                if client.info("replication").get("master_link_status") != "up":
                    return False
            except (redis.RedisError, OSError):
                return False
            finally:
                client.close()
        return True

    wait_until(synced, timeout_s, "the replicas to sync with the master")
    return master, nodes


def start_sentinels(lab: Launcher, master, replicas, *, first_index: int, down_after_ms: int,
                    failover_timeout_ms: int, timeout_s: float, reconfig_script: str | None = None):
    """Three sentinels that know the master, the replicas and each other from their config, returned once
    every one of them sees the master up, all replicas linked, and the two other sentinels."""
    hosts = [lab.host(first_index + i) for i in range(SENTINELS)]
    peers = [SentinelPeer(h, lab.ports.take(h), secrets.token_hex(20)) for h in hosts]
    nodes = []
    for i, me in enumerate(peers):
        name = f"sentinel-{i + 1}"
        conf = sentinel_conf(lab.opts, host=me.host, port=me.port, dir=lab.node_dir(name), myid=me.myid,
                             master=(master.host, master.port), replicas=[(r.host, r.port) for r in replicas],
                             peers=[p for p in peers if p is not me], master_name=MASTER_NAME, quorum=QUORUM,
                             down_after_ms=down_after_ms, failover_timeout_ms=failover_timeout_ms,
                             announce=lab.bind_hosts, reconfig_script=reconfig_script)
        nodes.append(lab.start_sentinel(name, me.host, me.port, conf))
    wait_until(lambda: all(_sees_everything(lab, s, master, len(replicas)) for s in nodes), timeout_s,
               "the sentinels to see the master, its replicas and each other")
    return nodes


def _sees_everything(lab: Launcher, sentinel, master, replicas: int) -> bool:
    client = lab.redis_client(sentinel.host, sentinel.port, password=False)
    try:
        state = client.sentinel_master(MASTER_NAME)
        if (state["ip"], int(state["port"])) != (master.host, master.port) or not state["is_master"] \
                or state["is_sdown"] or state["is_odown"] or state["num-other-sentinels"] != SENTINELS - 1:
            return False
        linked = [r for r in client.sentinel_slaves(MASTER_NAME)
                  if not r["is_sdown"] and not r["is_disconnected"] and r.get("master-link-status") == "ok"]
        return len(linked) == replicas
    except (redis.RedisError, OSError, KeyError):
        return False
    finally:
        client.close()


def sentinel_url(lab: Launcher, sentinels) -> str:
    scheme = facts(NAME).schemes[bool(lab.opts.tls)]
    return f"{scheme}://{','.join(f'{s.host}:{s.port}' for s in sentinels)}/{MASTER_NAME}"


def build(lab: Launcher, *, tls: bool, down_after_ms: int, failover_timeout_ms: int, timeout_s: float,
          **_) -> Target:
    data_nodes = facts(NAME).data_nodes
    if tls:
        lab.make_tls([lab.host(i) for i in range(data_nodes + SENTINELS)])
    master, replicas = start_data_nodes(lab, data_nodes - 1, timeout_s)
    sentinels = start_sentinels(lab, master, replicas, first_index=data_nodes, down_after_ms=down_after_ms,
                                failover_timeout_ms=failover_timeout_ms, timeout_s=timeout_s)
    lab.topo.target = Target.parse(sentinel_url(lab, sentinels), password=lab.opts.password,
                                   tls_ca=lab.opts.tls.ca if tls else None, topology=NAME)
    return lab.topo.target


def discover_master(topo) -> tuple[str, int]:
    """``(host, port)`` of the master according to the first running sentinel that answers."""
    tls = topo.node_options().tls
    for node in topo.nodes_with_role("sentinel"):
        kwargs = {"ssl": True, "ssl_ca_certs": tls.ca} if tls else {}
        client = redis.Redis(node.host, node.port, socket_connect_timeout=1.0, socket_timeout=2.0,
                             retry=Retry(NoBackoff(), 0), **kwargs)  # next sentinel rather than retries
        try:
            host, port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
            return (host.decode() if isinstance(host, bytes) else host), int(port)
        except (redis.RedisError, OSError, TypeError):
            continue
        finally:
            client.close()
    raise TopologyError(f"no sentinel of {topo.name} answers")
