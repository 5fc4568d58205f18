"""Server-side diagnostics of a run: ``diagnostics.json``, per data node.

What Redis itself says about the run, next to the client-side µs histograms:

- ``latencystats``: Redis 7's own per-command latency percentiles (``INFO latencystats``, µs) read at
  the end. They are cumulative since the server's last stats reset: on a topology rcap started, rcap
  resets them (``CONFIG RESETSTAT``) just before the load, so they cover this run; on a target rcap did
  not start nothing is reset and ``latencystats_scope`` says ``"since the server's last reset"``.
- ``errorstats``: error replies by type (``READONLY``, ``NOPERM``, ``OOM`` …) during the run (end − start).
- ``slowlog``: the ``SLOWLOG`` entries logged during the run. Nothing is reset: entries are told apart by
  their ids (those above the highest id seen at start), so a shared target's slow log is left as it was.
- ``latency_events``: ``LATENCY LATEST`` / ``LATENCY HISTORY`` points inside the run's time span (the
  latency monitor must be on: rcap's own topologies set ``latency-monitor-threshold``).

Every read is best effort: a command refused by the ACL or a managed service is recorded as
``"unavailable": "<error>"`` and never fails the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

SLOWLOG_READ = 1024
"""Slow-log entries read at the end (Redis keeps ``slowlog-max-len``, 128 by default)."""


def _parse_kv(text: Any) -> dict[str, float]:
    """``p50=12.0,p99=30.1`` (or redis-py's already-parsed dict) → floats."""
    if isinstance(text, dict):
        return {str(k): float(v) for k, v in text.items()}
    out = {}
    for part in str(text).split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                continue
    return out


def latencystats(client: Any) -> dict[str, dict[str, float]]:
    """``INFO latencystats`` as ``{command: {"p50": µs, "p99": µs, "p99.9": µs}}`` (Redis ≥ 7)."""
    info = client.info("latencystats")
    return {k[len("latency_percentiles_usec_"):]: _parse_kv(v) for k, v in info.items()
            if k.startswith("latency_percentiles_usec_")}


def errorstats(client: Any) -> dict[str, int]:
    """``INFO errorstats`` as ``{error_prefix: count}`` (Redis ≥ 6.2)."""
    info = client.info("errorstats")
    return {k[len("errorstat_"):]: int(_parse_kv(v).get("count", 0)) for k, v in info.items()
            if k.startswith("errorstat_")}


def _try(fn, *a) -> tuple[Any, str | None]:
    try:
        return fn(*a), None
    except Exception as exc:  # noqa: BLE001  (ACL, managed service, old server: recorded, never fatal)
        return None, f"{type(exc).__name__}: {str(exc)[:160]}"


def _slowlog_entry(e: dict) -> dict:
    cmd = e.get("command", b"")
    cmd = cmd.decode("utf-8", "replace") if isinstance(cmd, bytes) else str(cmd)
    words = cmd.split(" ")
    # arguments may be payloads or secrets: keep the command and, for data commands, its first
    # argument (a key or a script sha) only
    keep = 1 if words[0].upper() in _SECRET_COMMANDS else 2
    return {"id": e.get("id"), "t": e.get("start_time"), "duration_us": e.get("duration"),
            "command": " ".join(words[:keep]) + (" …" if len(words) > keep else "")}


_SECRET_COMMANDS = {"AUTH", "HELLO", "ACL", "CONFIG", "MIGRATE", "MODULE"}


@dataclass
class _NodeState:
    name: str
    connect: Callable[[], Any]
    client: Any = None
    slowlog_last_id: int = -1
    errors_start: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


class ServerDiagnostics:
    """Reads the diagnostics at :meth:`start` (before the load) and :meth:`finish` (after it).

    ``nodes``: ``[(name, connect)]`` of the data nodes, ``connect()`` returning a redis-py client;
    ``reset_stats``: True only on a topology rcap started (``CONFIG RESETSTAT`` resets commandstats,
    errorstats and latencystats).
    """

    def __init__(self, nodes: list[tuple[str, Callable[[], Any]]], *, reset_stats: bool) -> None:
        self.nodes = [_NodeState(name, connect) for name, connect in nodes]
        self.reset_stats = reset_stats
        self.start_t: float | None = None

    def start(self) -> None:
        self.start_t = time.time()
        for node in self.nodes:
            node.client, err = _try(node.connect)
            if err:
                node.notes["slowlog"] = node.notes["connect"] = err
                continue
            if self.reset_stats:
                _, err = _try(node.client.config_resetstat)
                if err:
                    node.notes["resetstat"] = err
            entries, err = _try(node.client.slowlog_get, 1)
            if err:
                node.notes["slowlog"] = err
            elif entries:
                node.slowlog_last_id = int(entries[0].get("id", -1))
            errs, err = _try(errorstats, node.client)
            node.errors_start = errs or {}

    def finish(self) -> dict[str, Any]:
        """The ``diagnostics.json`` document."""
        end_t = time.time()
        out: dict[str, Any] = {
            "start_t": round(self.start_t or end_t, 3), "end_t": round(end_t, 3),
            "latencystats_scope": "this run" if self.reset_stats else "since the server's last reset",
            "nodes": {},
        }
        for node in self.nodes:
            rec: dict[str, Any] = {}
            if node.client is None:
                node.client, err = _try(node.connect)
                if err:
                    out["nodes"][node.name] = {"unavailable": err}
                    continue
            lat, err = _try(latencystats, node.client)
            rec["latencystats"] = lat if err is None else {"unavailable": err}
            errs, err = _try(errorstats, node.client)
            if err is None:
                rec["errorstats"] = {k: v - node.errors_start.get(k, 0) for k, v in errs.items()
                                     if v - node.errors_start.get(k, 0) > 0}
            else:
                rec["errorstats"] = {"unavailable": err}
            if "slowlog" in node.notes:
                rec["slowlog"] = {"unavailable": node.notes["slowlog"]}
            else:
                entries, err = _try(node.client.slowlog_get, SLOWLOG_READ)
                rec["slowlog"] = ({"unavailable": err} if err else
                                  [_slowlog_entry(e) for e in reversed(entries or [])
                                   if int(e.get("id", -1)) > node.slowlog_last_id])
            rec["latency_events"] = self._latency_events(node.client, end_t)
            if node.notes.get("resetstat"):
                rec["notes"] = {"resetstat": node.notes["resetstat"]}
            out["nodes"][node.name] = rec
            _try(node.client.close)
        return out

    def _latency_events(self, client: Any, end_t: float) -> Any:
        latest, err = _try(client.execute_command, "LATENCY", "LATEST")
        if err:
            return {"unavailable": err}
        events = {}
        lo = int(self.start_t or end_t)
        for row in latest or []:
            name = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
            hist, err = _try(client.execute_command, "LATENCY", "HISTORY", name)
            points = [{"t": int(t), "latency_ms": int(ms)} for t, ms in (hist or []) if lo <= int(t) <= end_t + 1]
            if points:
                events[name] = points
        return events


__all__ = ["ServerDiagnostics", "errorstats", "latencystats"]
