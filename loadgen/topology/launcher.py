"""Starting one lab node (redis-server, sentinel or haproxy) and waiting until it answers."""

from __future__ import annotations

import os
import re

import redis

from rcapcore.errors import TopologyError
from loadgen.topology.model import LabState, Node
from loadgen.topology.processes import PortAllocator, ProcessId, deferred_signals, spawn, wait_until
from loadgen.topology.redisconf import NodeOptions, redis_conf

NODE_START_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 0.5
LOOPBACK_BASE = 10  # bind_hosts: node i listens on 127.0.0.(10 + i)


def log_excerpt(path: str, secret: str | None = None) -> str:
    """The line of a node's log that says why it stopped (password masked)."""
    try:
        with open(path, errors="replace") as fh:
            lines = [ln.strip() for ln in fh if ln.strip()]
    except OSError:
        return "no log"
    pick = next((ln for ln in lines if "Address already in use" in ln), None)
    if pick is None:
        for i, ln in enumerate(lines):
            if ln.startswith(">>>"):
                pick = " ".join(lines[i:i + 2])
        pick = pick or (lines[-1] if lines else "no output")
    pick = re.sub(r"^\d+:[A-Z] [^*#.-]*[*#.-] ", "", pick)  # drop redis's "pid:role date level" prefix
    if secret:
        pick = pick.replace(secret, "***")
    return pick[:300]


class Launcher:
    """Starts the nodes of one topology into ``topo.dir/<node>/`` and records them in ``topo``."""

    def __init__(self, topo: LabState, opts: NodeOptions, ports: PortAllocator, *, owned: bool,
                 bind_hosts: bool = False):
        self.topo = topo
        self.opts = opts
        self.ports = ports
        self.owned = owned
        self.bind_hosts = bind_hosts

    def make_tls(self, hosts: list[str], *, for_nodes: bool = True):
        """Generate the CA and server certificate into ``<topology>/tls``; ``for_nodes`` makes the data
        nodes and sentinels serve TLS too. Returns the :class:`TlsFiles`."""
        from dataclasses import asdict, replace  # noqa: PLC0415

        from loadgen.topology.tlscerts import make_tls_files  # noqa: PLC0415

        files = make_tls_files(os.path.join(self.topo.dir, "tls"), hosts)
        self.topo.options["tls_files"] = asdict(files)
        self.topo.options["nodes_tls"] = for_nodes
        if for_nodes:
            self.opts = replace(self.opts, tls=files)
        return files

    def host(self, index: int) -> str:
        """Listening address of the ``index``-th node (0-based)."""
        return f"127.0.0.{LOOPBACK_BASE + index}" if self.bind_hosts else "127.0.0.1"

    def node_dir(self, name: str) -> str:
        path = os.path.join(self.topo.dir, name)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def redis_client(self, host: str, port: int, *, password: bool = True, **kwargs) -> redis.Redis:
        """A direct client to one lab node (not through sentinel or proxy)."""
        kw: dict = {"socket_connect_timeout": PROBE_TIMEOUT_S, "socket_timeout": 2.0}
        if password and self.opts.password:
            kw["password"] = self.opts.password
        if self.opts.tls:
            kw.update(ssl=True, ssl_ca_certs=self.opts.tls.ca)
        return redis.Redis(host=host, port=port, **{**kw, **kwargs})

    def serves(self, host: str, port: int, pid: int, *, password: bool = True) -> bool:
        """True once ``host:port`` answers and the answer comes from process ``pid`` (after a port race,
        another Redis may hold the port while ours is failing to bind it)."""
        client = self.redis_client(host, port, password=password)
        try:
            return int(client.info("server")["process_id"]) == pid
        except (redis.RedisError, OSError, KeyError, ValueError):
            return False
        finally:
            client.close()

    def pingable_target(self, target) -> bool:
        from loadgen.topology.targets import connect  # noqa: PLC0415

        client = connect(target, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=1.0)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def run(self, name: str, role: str, host: str, port: int, argv: list[str], ready, *,
            timeout_s: float = NODE_START_TIMEOUT_S) -> Node:
        """Spawn ``argv`` as node ``name`` and wait until ``ready(pid)``; the node is recorded (and saved)
        as soon as it runs, so a failure later still tears it down."""

        folder = self.node_dir(name)
        log = os.path.join(folder, "node.log")
        with deferred_signals():  # a Ctrl-C now would orphan a child not yet in the state file
            proc = spawn(argv, log, owned=self.owned, cwd=folder)
            pid = ProcessId.of(proc.pid)
            node = Node(name=name, role=role, host=host, port=port, pid=proc.pid, dir=folder,
                        create_time=pid.create_time, argv=tuple(argv))
            self.topo._add_node(node, proc)

        def died() -> None:
            if proc.poll() is not None:
                why = log_excerpt(log, self.opts.password)
                if "'tls-" in why and "Bad directive" in why:
                    raise TopologyError(f"redis-server {self.topo.binary.version} at {self.topo.binary.path} "
                                        "has no TLS support: use a TLS build (Debian's redis-server) or drop --tls")
                raise TopologyError(f"{name} ({os.path.basename(argv[0])}) exited while starting: {why}")

        wait_until(lambda: ready(proc.pid), timeout_s, f"{name} on {host}:{port}", check=died)
        return node

    def start_redis(self, name: str, role: str, index: int, *, replica_of: tuple[str, int] | None = None,
                    cluster: bool = False, cluster_node_timeout_ms: int = 2000) -> Node:
        """A redis-server data node; with automatic ports a port lost to a race is retried."""
        host = self.host(index)
        for attempt in range(3):
            port = self.ports.take(host, bus=cluster)
            folder = self.node_dir(name)
            conf = os.path.join(folder, "redis.conf")
            write_private(conf, redis_conf(self.opts, host=host, port=port, dir=folder, replica_of=replica_of,
                                            announce=self.bind_hosts, cluster=cluster,
                                            cluster_node_timeout_ms=cluster_node_timeout_ms))
            try:
                return self.run(name, role, host, port, [self.topo.binary.path, conf],
                                lambda pid, h=host, p=port: self.serves(h, p, pid))
            except TopologyError as exc:
                if "Address already in use" not in str(exc):
                    raise
                if self.ports.fixed:
                    raise TopologyError(f"port {port} on {host} is in use (--port-base {self.ports.base})") from None
                self.topo._forget_node(name)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def start_sentinel(self, name: str, host: str, port: int, conf_text: str) -> Node:
        folder = self.node_dir(name)
        conf = os.path.join(folder, "sentinel.conf")
        write_private(conf, conf_text)
        return self.run(name, "sentinel", host, port, [self.topo.binary.path, conf, "--sentinel"],
                        lambda pid: self.serves(host, port, pid, password=False))


def write_private(path: str, text: str) -> None:
    """Write a config that may hold the password: owner-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
