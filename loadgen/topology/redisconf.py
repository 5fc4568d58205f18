"""redis.conf and sentinel.conf text for lab nodes, from typed options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rcapcore.errors import BadInput

POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
            "volatile-random", "volatile-ttl")
PERSISTENCE = ("none", "rdb", "aof")
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def parse_bytes(value: int | str | None) -> int | None:
    """``maxmemory`` in bytes from an int or a Redis-style size (``"256mb"``; k/m/g = 1000ⁿ, kb/mb/gb = 1024ⁿ)."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value < 0:
            raise BadInput(f"maxmemory must be ≥ 0 bytes, got {value}")
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?b?)\s*", str(value).lower())
    if not match:
        raise BadInput(f"bad size {value!r}: use bytes or a unit such as 256mb or 1gb")
    return int(match.group(1)) * _UNITS[match.group(2)]


def quote(value: str) -> str:
    """A config-file string literal (Redis's sdssplitargs understands double quotes and escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the CA certificate and the server certificate/key the nodes present."""

    ca: str
    cert: str
    key: str


@dataclass(frozen=True)
class NodeOptions:
    """What every data node of a topology shares. ``maxmemory`` in bytes (None = unlimited)."""

    password: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None
    maxmemory: int | None = None
    maxmemory_policy: str = "noeviction"
    persistence: str = "none"
    redis_major: int = 7
    io_threads: int = 1  # > 1: I/O threads (Redis 6+, Valkey 8's asynchronous I/O threads)

    def __post_init__(self) -> None:
        if self.maxmemory_policy not in POLICIES:
            raise BadInput(f"unknown maxmemory policy {self.maxmemory_policy!r} (one of {', '.join(POLICIES)})")
        if self.persistence not in PERSISTENCE:
            raise BadInput(f"unknown persistence {self.persistence!r} (none, rdb or aof)")
        if self.password is not None and (not self.password or any(c in self.password for c in "\r\n\0")):
            raise BadInput("the password must be one non-empty line")


def _listen(host: str, port: int, tls: TlsFiles | None) -> list[str]:
    lines = [f"bind {host}"]
    if tls:
        lines += ["port 0", f"tls-port {port}", f"tls-cert-file {quote(tls.cert)}",
                  f"tls-key-file {quote(tls.key)}", f"tls-ca-cert-file {quote(tls.ca)}",
                  "tls-auth-clients optional", "tls-replication yes"]
    else:
        lines.append(f"port {port}")
    return lines


def redis_conf(opts: NodeOptions, *, host: str, port: int, dir: str, replica_of: tuple[str, int] | None = None,
               announce: bool = False, cluster: bool = False, cluster_node_timeout_ms: int = 2000) -> str:
    """A data node's redis.conf."""
    lines = [*_listen(host, port, opts.tls), f"dir {quote(dir)}", "daemonize no", "protected-mode no",
             "loglevel notice", "dbfilename dump.rdb",
             # replicas sync at once instead of waiting 5 s for more replicas to join
             "repl-diskless-sync yes", "repl-diskless-sync-delay 0",
             f"maxmemory {opts.maxmemory or 0}", f"maxmemory-policy {opts.maxmemory_policy}"]
    if opts.persistence == "rdb":
        lines += ["save 3600 1 300 100 60 10000", "appendonly no"]
    elif opts.persistence == "aof":
        lines += ['save ""', "appendonly yes", "appendfsync everysec"]
    else:
        lines += ['save ""', "appendonly no"]
    # server-side diagnostics of every run (loadgen.recorder.diagnostics): latency spikes ≥ 1 ms (a fixed ring
    # of 160 samples per event). The slow log keeps Redis's defaults (10 ms, 128 entries): each entry holds up
    # to 32 arguments, so a lower threshold would add memory that production does not have
    lines.append("latency-monitor-threshold 1")
    if opts.io_threads > 1:
        lines.append(f"io-threads {opts.io_threads}")
    if opts.redis_major >= 7:
        lines.append("enable-debug-command local")  # DEBUG SLEEP etc. for fault experiments
    if opts.password:
        lines += [f"requirepass {quote(opts.password)}", f"masterauth {quote(opts.password)}"]
    if announce:
        lines += [f"replica-announce-ip {host}"]
        if opts.redis_major >= 7:  # replication connects from the node's own address (partitions need it)
            lines.append(f"bind-source-addr {host}")
    if replica_of:
        lines.append(f"replicaof {replica_of[0]} {replica_of[1]}")
    if cluster:
        lines += ["cluster-enabled yes", "cluster-config-file nodes.conf",
                  f"cluster-node-timeout {cluster_node_timeout_ms}", "cluster-require-full-coverage yes"]
        if opts.tls:
            lines.append("tls-cluster yes")
        if announce:
            lines.append(f"cluster-announce-ip {host}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SentinelPeer:
    """A sentinel as its peers are told about it (``known-sentinel``); ``myid`` is 40 hex chars."""

    host: str
    port: int
    myid: str


def sentinel_conf(opts: NodeOptions, *, host: str, port: int, dir: str, myid: str, master: tuple[str, int],
                  replicas: list[tuple[str, int]], peers: list[SentinelPeer], master_name: str,
                  quorum: int, down_after_ms: int, failover_timeout_ms: int, announce: bool,
                  reconfig_script: str | None = None) -> str:
    """A sentinel's conf. Known replicas and peers are declared up front so it is ready at once
    instead of after discovery (INFO every 10 s, hellos every 2 s)."""
    name = master_name
    lines = [*_listen(host, port, opts.tls), f"dir {quote(dir)}", "daemonize no", "protected-mode no",
             f"sentinel myid {myid}",
             f"sentinel monitor {name} {master[0]} {master[1]} {quorum}",
             f"sentinel down-after-milliseconds {name} {down_after_ms}",
             f"sentinel failover-timeout {name} {failover_timeout_ms}",
             f"sentinel parallel-syncs {name} 1"]
    if opts.password:
        lines.append(f"sentinel auth-pass {name} {quote(opts.password)}")
    if announce:
        lines += [f"sentinel announce-ip {host}", f"sentinel announce-port {port}"]
        if opts.redis_major >= 7:  # sentinel links come from its own address (partitions need it)
            lines.append(f"bind-source-addr {host}")
    if reconfig_script:
        lines.append(f"sentinel client-reconfig-script {name} {quote(reconfig_script)}")
    lines += [f"sentinel known-replica {name} {h} {p}" for h, p in replicas]
    lines += [f"sentinel known-sentinel {name} {p.host} {p.port} {p.myid}" for p in peers]
    return "\n".join(lines) + "\n"
