"""Server telemetry: one sample per node per second into ``server/<host>_<port>.jsonl``.

Each sample costs two round trips per node (``INFO all`` and ``MEMORY STATS``), both read-only.
Commandstats are stored as per-interval deltas so a line reads as "what happened this second".
A node that stops answering is recorded as an event and sampled again at the next tick; a change
of role (failover) is recorded as an event too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from loadgen.recorder.rundir import RunDir, node_file_name
from rcapcore.rundata import SERVER_DIR

# INFO fields that are not time series (keyspace and per-command sections are handled apart).
_SECTION_PREFIXES = ("cmdstat_", "errorstat_", "latency_percentiles_usec_")
_CMD_FIELDS = ("calls", "usec", "rejected_calls", "failed_calls")


@dataclass
class NodeProbe:
    """A node to sample: its address, the role it had at start, and a client factory."""

    host: str
    port: int
    role: str
    connect: Callable[[], Any]  # returns a redis-py client bound to this node
    name: str = ""
    client: Any = field(default=None, repr=False)
    last_role: str | None = None
    reachable: bool = True
    prev_cmd: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    prev_t: float | None = None
    prev_ops: int | None = None

    def __post_init__(self) -> None:
        self.name = self.name or node_file_name(self.host, self.port)


def _cmd_deltas(prev: dict[str, dict[str, float]], cur: dict[str, dict[str, float]]) -> dict:
    """Per-command deltas since the previous sample, with ``usec_per_call`` for the interval.

    A counter that went down (restart, CONFIG RESETSTAT) counts from zero.
    """
    out = {}
    for cmd, now in cur.items():
        before = prev.get(cmd, {})
        d = {}
        for f in _CMD_FIELDS:
            if f in now:
                v, p = now[f], before.get(f, 0)
                d[f] = v - p if v >= p else v
        if d.get("calls", 0) or d.get("rejected_calls", 0) or d.get("failed_calls", 0):
            d["usec_per_call"] = round(d.get("usec", 0) / d["calls"], 3) if d.get("calls") else 0.0
            out[cmd] = d
    return out


def split_info(info: dict) -> tuple[dict, dict, dict]:
    """Split redis-py's flat ``INFO all`` dict into (scalar fields, keyspace, commandstats)."""
    scalars, keyspace, cmds = {}, {}, {}
    for k, v in info.items():
        if k.startswith("cmdstat_"):
            cmds[k[len("cmdstat_"):]] = {f: v[f] for f in _CMD_FIELDS if f in v}
        elif k.startswith(_SECTION_PREFIXES):
            continue
        elif k.startswith("db") and k[2:].isdigit() and isinstance(v, dict):
            keyspace[k] = v
        else:  # includes slaveN dicts on a master (ip, port, state, offset, lag)
            scalars[k] = v
    return scalars, keyspace, cmds


def replication_lag(info: dict) -> dict:
    """Replication lag seen from this node: bytes behind for each replica of a master."""
    if info.get("role") != "master":
        return {
            "master_link_up": info.get("master_link_status") == "up",
            "master_last_io_seconds_ago": info.get("master_last_io_seconds_ago"),
        }
    offset = info.get("master_repl_offset", 0)
    lags = [
        offset - v.get("offset", 0)
        for k, v in info.items()
        if k.startswith("slave") and k[5:].isdigit() and isinstance(v, dict)
    ]
    return {"repl_lag_bytes_max": max(lags) if lags else 0, "replicas": len(lags)}


class ServerSampler:
    """Samples every node each ``interval_s`` seconds until :meth:`stop`, one thread per node, so a
    frozen node (its 2 s socket timeout) never delays the series of the others."""

    def __init__(
        self,
        run: RunDir,
        nodes: list[NodeProbe],
        interval_s: float = 1.0,
        on_sample: Callable[[NodeProbe, dict], None] | None = None,
    ) -> None:
        self.run = run
        self.nodes = nodes
        self.interval_s = interval_s
        self.on_sample = on_sample
        self.sample_counts: dict[str, int] = {}  # node name → samples taken
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(node,), name=f"rcap-sampler-{node.name}",
                                          daemon=True) for node in nodes]
        self.latest: dict[str, dict] = {}
        (run.path / SERVER_DIR).mkdir(exist_ok=True)

    @property
    def samples(self) -> int:
        """Samples taken so far, all nodes together."""
        return sum(self.sample_counts.values())

    def start(self) -> "ServerSampler":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=10)
        for node in self.nodes:
            if node.client is not None:
                try:
                    node.client.close()
                except Exception:  # noqa: BLE001  (closing a dead connection may raise; nothing to record)
                    pass

    def _loop(self, node: NodeProbe) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self.sample(node)
            next_tick += self.interval_s
            delay = next_tick - time.monotonic()
            if delay < 0:  # sampling fell behind (slow node): skip ticks rather than burst
                next_tick = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def sample(self, node: NodeProbe) -> dict | None:
        """Take one sample of ``node``, append it to its series and return it (None if unreachable)."""
        t = time.time()
        try:
            if node.client is None:
                node.client = node.connect()
            info = node.client.info("all")
            try:
                mem_stats = node.client.memory_stats()
            except Exception as exc:  # noqa: BLE001  (MEMORY STATS is refused on some managed services)
                mem_stats = {"error": type(exc).__name__}
        except Exception as exc:  # noqa: BLE001  (connection refused, reset, timeout, loading...)
            if node.client is not None:
                try:
                    node.client.close()
                except Exception:  # noqa: BLE001  (closing a dead connection may raise)
                    pass
            node.client = None
            if node.reachable:
                node.reachable = False
                self.run.event("node_unreachable", t=t, node=node.name, error=f"{type(exc).__name__}: {exc}")
            return None
        if not node.reachable:
            node.reachable = True
            self.run.event("node_reachable", t=t, node=node.name)

        scalars, keyspace, cmds = split_info(info)
        role = scalars.get("role", node.role)
        role = "replica" if role == "slave" else role  # INFO still says "slave"
        if node.last_role is not None and role != node.last_role:
            self.run.event("role_change", t=t, node=node.name, before=node.last_role, after=role)
        node.last_role = role

        ops = scalars.get("total_commands_processed")
        derived: dict[str, Any] = replication_lag(scalars)
        if node.prev_t is not None and ops is not None and node.prev_ops is not None and t > node.prev_t:
            derived["commands_per_s"] = round(max(ops - node.prev_ops, 0) / (t - node.prev_t), 1)
        record = {
            "t": round(t, 3),
            "node": node.name,
            "role": role,
            "info": {k: v for k, v in scalars.items() if not isinstance(v, dict) and not k.endswith("_human")},
            "keyspace": keyspace,
            "cmd": _cmd_deltas(node.prev_cmd, cmds) if node.prev_t is not None else {},
            "memory_stats": mem_stats,
            "derived": derived,
        }
        node.prev_cmd, node.prev_t, node.prev_ops = cmds, t, ops
        self.run.append_jsonl(f"{SERVER_DIR}/{node.name}.jsonl", record)
        self.latest[node.name] = record
        self.sample_counts[node.name] = self.sample_counts.get(node.name, 0) + 1
        if self.on_sample is not None:
            self.on_sample(node, record)
        return record
