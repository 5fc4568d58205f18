"""The memory model's prediction for a recorded memory-wall experiment (``rcap memory-wall``), computed
when the report is built: the run records only what it measured (``result.json``), so a better model
re-predicts old runs instead of leaving a stale figure inside an immutable run.

The prediction: the backlog the model fits in the room above the baseline (``maxmemory`` − baseline
``used_memory``, fixed point of :func:`analysis.memory.pending_works_bytes`), the bytes it gives for the
measured backlog, their errors (%) against the measurement, and the time to the wall at λ − μ.
"""

from __future__ import annotations

from typing import Any

from analysis.memory import RedisLayout, WorkShape, pending_works_bytes
from rcapcore.nuxeo.payloads import RULE_PAYLOAD_FACTOR, RULE_PER_WORK_BYTES


def _err(predicted: float, measured: float) -> float | None:
    return round(100.0 * (predicted - measured) / measured, 2) if measured else None


def _server(manifest: dict) -> dict:
    """The server facts of the experiment's (first) topology, from its manifest."""
    for topo in manifest.get("topologies") or []:
        if topo.get("server"):
            return topo["server"]
    return {}


def memory_wall_prediction(result: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """``{"available", "predicted_backlog", "layout_version", "bytes_at_measured_backlog", "bytes_error_pct",
    "error_pct", "time_to_wall_predicted_s"}`` for one memory-wall ``result.json`` and its manifest;
    ``{"available": False, "reason"}`` when the model cannot say."""
    try:
        params = manifest.get("parameters") or {}
        server = _server(manifest)
        valkey = server.get("server_family") == "valkey"  # Valkey's redis_version is a frozen 7.2.4
        version = (server.get("server_version") if valkey else server.get("redis_version")) or "7.0"
        layout = RedisLayout.for_version(version, result.get("mem_allocator"), family="valkey" if valkey else "redis")
        payload_mean = float(result["payload_bytes_mean"])
        backlog = int(result["backlog_at_wall"])
        room = int(result["maxmemory_bytes"]) - int(result["baseline_used_memory_bytes"])
        sample_id = f"mw{params.get('seed', 0)}.{result.get('acked', backlog)}"  # the id of the refused work
        shape = WorkShape(payload_bytes=round(payload_mean), id_bytes=len(sample_id),
                          prefix=params.get("prefix", "rcap:"), queue=result.get("queue_id") or params.get("queue_id"))
        # n ← n·room/bytes(n) converges in a few steps (the model is near-linear in n; one evaluation
        # costs up to a second), then step back until the prediction fits.
        n = max(1, int(room / (RULE_PAYLOAD_FACTOR * payload_mean + RULE_PER_WORK_BYTES)))
        for _ in range(4):
            nxt = max(1, int(n * room / pending_works_bytes(n, shape, layout)))
            if nxt == n:
                break
            n = nxt
        while n > 1 and pending_works_bytes(n, shape, layout) > room:
            n = max(1, int(n * 0.995))
        at_backlog = round(pending_works_bytes(backlog, shape, layout))
        grown = int(result["used_memory_at_wall_bytes"]) - int(result["baseline_used_memory_bytes"])
        net_rate = float(result["schedule_rate"]) - float(result.get("consume_rate") or 0.0)
        return {"available": True, "predicted_backlog": n, "layout_version": layout.version,
                "bytes_at_measured_backlog": at_backlog, "bytes_error_pct": _err(at_backlog, grown),
                "error_pct": _err(n, backlog),
                "time_to_wall_predicted_s": round(n / net_rate, 3) if net_rate > 0 else None}
    except (KeyError, TypeError, ValueError) as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
