"""``enterprise``: a local stand-in for a single-shard Redis Enterprise database behind one stable endpoint.

A master and a replica under 3 sentinels, fronted by HAProxy. HAProxy terminates TLS (a CA and server
certificate generated into the topology folder) and sends connections to whichever node answers
``role:master`` to its tcp-check; when that changes it drops the clients' connections
(``on-marked-down shutdown-sessions``) and they reconnect to the same endpoint. A sentinel
client-reconfig-script demotes the old master at the switch, so the endpoint moves at once (plain Sentinel
leaves it a master for ~10 s). The password is required. This emulates what clients see and the HA shape, not Redis Enterprise's proxy or internals.
"""

from __future__ import annotations

import csv
import os
import socket
import sys

from loadgen.topology.binaries import find_haproxy
from loadgen.topology.launcher import Launcher, write_private
from loadgen.topology.processes import accepts, wait_until
from loadgen.topology.sentinel import start_data_nodes, start_sentinels
from loadgen.topology.targets import Target
from rcapcore.topologies import facts

NAME = "enterprise"
BACKEND = "redis_master"
CHECK_INTERVAL_MS = 200  # how often HAProxy asks each node for its role


def _resp(*args: str) -> str:
    """A RESP command as hex, for ``tcp-check send-binary`` (no quoting problems with any password)."""
    out = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    return out.encode().hex()


def haproxy_cfg(*, port: int, pem: str, stats_socket: str, servers, password: str) -> str:
    checks = [
        "    option tcp-check",
        "    tcp-check connect",
        f"    tcp-check send-binary {_resp('AUTH', password)}",
        "    tcp-check expect string +OK",
        f"    tcp-check send-binary {_resp('INFO', 'replication')}",
        "    tcp-check expect string role:master",
        f"    tcp-check send-binary {_resp('QUIT')}",
        "    tcp-check expect string +OK",
    ]
    return "\n".join([
        "global",
        "    maxconn 4096",
        f"    stats socket {stats_socket} mode 600 level admin",
        "defaults",
        "    mode tcp",
        "    timeout connect 1s",
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout check 1s",
        "frontend rcap_endpoint",
        f"    bind 127.0.0.1:{port} ssl crt {pem}",
        f"    default_backend {BACKEND}",
        f"backend {BACKEND}",
        *checks,
        f"    default-server check inter {CHECK_INTERVAL_MS}ms rise 1 fall 1 on-marked-down shutdown-sessions",
        *[f"    server {s.name} {s.host}:{s.port}" for s in servers],
    ]) + "\n"


DEMOTE_SCRIPT = """#!{python}
# Sentinel client-reconfig-script (rcap enterprise stand-in): at +switch-master, demote the old master
# at once, so HAProxy's role check moves the endpoint as a database proxy would, instead of routing to
# two masters until Sentinel demotes the old one (~10 s). Always exits 0: Sentinel retries exit code 1.
import sys

import redis

name, role, state, from_ip, from_port, to_ip, to_port = sys.argv[1:8]
if role == "leader":
    with open({secret!r}) as fh:
        password = fh.readline().rstrip("\\n")
    try:
        redis.Redis(from_ip, int(from_port), password=password, socket_timeout=1,
                    socket_connect_timeout=1).replicaof(to_ip, to_port)
    except (redis.RedisError, OSError):
        pass  # the old master is down: nothing to demote
"""


def write_demote_script(folder: str, password: str) -> str:
    """The reconfig script and its password file (both owner-only) in ``folder``; returns the script path."""
    secret = os.path.join(folder, "password")
    write_private(secret, password + "\n")
    script = os.path.join(folder, "demote-old-master.py")
    write_private(script, DEMOTE_SCRIPT.format(python=sys.executable, secret=secret))
    os.chmod(script, 0o700)
    return script


def backend_states(topo) -> dict[str, str]:
    """HAProxy's view of each data node: ``{"redis-1": "UP", "redis-2": "DOWN", …}``."""
    sock_path = os.path.join(topo.node("haproxy").dir, "stats.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(sock_path)
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = csv.DictReader(data.decode().lstrip("# ").splitlines())
    return {r["svname"]: r["status"].split()[0] for r in rows
            if r.get("pxname") == BACKEND and r.get("svname") not in ("BACKEND", "FRONTEND")}


def build(lab: Launcher, *, down_after_ms: int, failover_timeout_ms: int, timeout_s: float, **_) -> Target:
    haproxy = find_haproxy()
    tls = lab.make_tls(["127.0.0.1"], for_nodes=False)  # TLS ends at HAProxy, as at a database endpoint
    data_nodes = facts(NAME).data_nodes
    master, replicas = start_data_nodes(lab, data_nodes - 1, timeout_s)
    folder = lab.node_dir("haproxy")
    start_sentinels(lab, master, replicas, first_index=data_nodes, down_after_ms=down_after_ms,
                    failover_timeout_ms=failover_timeout_ms, timeout_s=timeout_s,
                    reconfig_script=write_demote_script(folder, lab.opts.password))
    port = lab.ports.take("127.0.0.1")
    cfg = os.path.join(folder, "haproxy.cfg")
    write_private(cfg, haproxy_cfg(port=port, pem=os.path.join(os.path.dirname(tls.key), "server.pem"),
                                   stats_socket=os.path.join(folder, "stats.sock"), servers=[master, *replicas],
                                   password=lab.opts.password))
    lab.run("haproxy", "haproxy", "127.0.0.1", port, [haproxy, "-db", "-f", cfg],
            lambda pid: accepts("127.0.0.1", port) and os.path.exists(os.path.join(folder, "stats.sock")))
    wait_until(lambda: backend_states(lab.topo) == {master.name: "UP", **{r.name: "DOWN" for r in replicas}},
               timeout_s, "HAProxy to route to the master only")
    scheme = facts(NAME).schemes[True]
    lab.topo.target = Target.parse(f"{scheme}://127.0.0.1:{port}", password=lab.opts.password, tls_ca=tls.ca,
                                   topology=NAME)
    wait_until(lambda: lab.pingable_target(lab.topo.target), timeout_s, "the TLS endpoint to answer")
    return lab.topo.target


__all__ = ["NAME", "backend_states", "build", "haproxy_cfg"]
