"""A Nuxeo node stops: how many works a crash orphans, the memory they hold, and the check against
``rcap node-stop`` runs.

A crashed node's running works stay in ``run:<queue>``, the state hash and the data hash forever (spec
Corrections 11). How many: Little's law on that node, L = λ_node × W, where λ_node is the node's
completion rate (works/s) and W the time a work holds its run-set entry (pop-work → completed-work ≈ the
processing time). While the node's threads are all busy (a mass operation) L is the thread count.
Their memory: the data-hash entry (payload), the state-hash entry and the run-set member of each, from
:mod:`analysis.memory`.
"""

from __future__ import annotations

import math
import statistics
from typing import Iterable

from analysis.memory import RedisLayout, WorkShape, pending_works

MARGINAL_N = 10_000  # works already in the keys when the orphans add theirs (a busy deployment)


def orphans_per_stop(completion_rate_per_s: float, hold_s: float, threads: int | None = None) -> float:
    """Expected works running on a node at a random instant (works): λ_node × W, at most its threads."""
    if completion_rate_per_s < 0 or hold_s < 0 or not math.isfinite(completion_rate_per_s * hold_s):
        raise ValueError("rate and hold time must be finite and ≥ 0")
    busy = completion_rate_per_s * hold_s
    return min(busy, float(threads)) if threads is not None else busy


def orphan_bytes_per_work(payload_bytes: int, id_bytes: int = 24, prefix: str = "nuxeo:", queue: str = "default",
                          n: int | None = None, layout: RedisLayout | None = None) -> float:
    """Bytes one orphaned work holds: its data-hash entry, state-hash entry and run-set member.

    ``n`` = how many works the three keys hold in all: ``None`` gives the marginal cost in a busy
    deployment (keys already large); a small ``n`` includes the keys' own overhead shared by ``n`` works
    (what ``MEMORY USAGE`` of keys that hold only the orphans reports). The run set costs what the
    sched set of the same ids costs (same encoding, same members).
    """
    layout = layout or RedisLayout.for_version("7.0", "jemalloc")
    shape = WorkShape(payload_bytes=int(payload_bytes), id_bytes=int(id_bytes), prefix=prefix, queue=queue)

    def three(k: int) -> float:
        p = pending_works(k, shape, layout).parts
        return p["data hash"] + p["state hash"] + p["sched set"]

    if n is None:
        return (three(MARGINAL_N + 100) - three(MARGINAL_N)) / 100
    return three(max(1, int(n))) / max(1, int(n))


def target_rates(target) -> dict:
    """Per-node WorkManager rates of a target-load (``analysis.targets.TargetLoad``): nodes, works/s per node,
    processing time (ms), mean payload (bytes), threads per node; and the mass operation's if any."""
    from analysis.sizing import traffic_of  # noqa: PLC0415

    traffic = traffic_of(target)
    if target.business is not None:
        nodes, ms = target.business.nodes, target.business.work_processing_ms
        threads = None
    else:
        nodes, ms = 1, target.redis.work_processing_ms
        threads = target.redis.worker_threads
    out = {"nodes": nodes, "nodes_assumed": target.business is None,
           "works_per_s_per_node": traffic.works_per_s / nodes, "processing_ms": ms,
           "payload_bytes": traffic.mean_payload_bytes, "threads_per_node": threads, "mass_operation": None}
    mo = target.mass_operation
    if mo is not None:
        out["mass_operation"] = {"name": mo.name, "threads_per_node": mo.threads_per_node,
                                 "processing_ms": mo.processing_ms, "payload_bytes": mo.payload_bytes}
    return out


def crash_cost(target) -> dict:
    """Expected orphaned works and bytes per node crash at the target's rates (steady, and during the mass
    operation when the node's threads of that queue are all busy)."""
    r = target_rates(target)
    steady = orphans_per_stop(r["works_per_s_per_node"], r["processing_ms"] / 1000.0, r["threads_per_node"])
    per_work = orphan_bytes_per_work(max(1, round(r["payload_bytes"])))
    out = {**r, "steady_orphans": steady, "steady_bytes_per_work": per_work, "steady_bytes": steady * per_work}
    mo = r["mass_operation"]
    if mo is not None:
        mo_per_work = orphan_bytes_per_work(mo["payload_bytes"])
        out["mass_orphans"] = float(mo["threads_per_node"])
        out["mass_bytes_per_work"] = mo_per_work
        out["mass_bytes"] = mo["threads_per_node"] * mo_per_work
    return out


def validation(results: Iterable[dict]) -> dict:
    """Predicted vs measured over ``rcap node-stop`` results (one mode): per-run rows and the medians.

    Measured is the orphaned works (crash) or the rescheduled ones (graceful); predicted is Little's law
    with the stopped node's own completion rate up to the stop. ``error_works`` = measured − predicted;
    over runs the relative error of the medians (one crash is a single draw of a random count).
    """
    rows = []
    for r in results:
        m = r.get("model") or {}
        if m.get("predicted_works") is None:
            continue
        rows.append({"mode": r.get("mode"), "run_id": r.get("run_id"), "predicted_works": m["predicted_works"],
                     "measured_works": m["measured_works"], "error_works": m["error_works"],
                     "time_average_running": m.get("time_average_running"),
                     "predicted_bytes": m.get("predicted_bytes"),
                     "measured_bytes": r.get("orphaned_bytes") if r.get("mode") == "crash" else None})
    if not rows:
        return {"rows": [], "predicted_median": None, "measured_median": None, "error_pct": None}
    pred = statistics.median(x["predicted_works"] for x in rows)
    meas = statistics.median(x["measured_works"] for x in rows)
    mean_pred = statistics.fmean(x["predicted_works"] for x in rows)
    mean_meas = statistics.fmean(x["measured_works"] for x in rows)
    return {"rows": rows, "predicted_median": pred, "measured_median": meas,
            "predicted_mean": mean_pred, "measured_mean": mean_meas,
            "error_pct": round(100.0 * (mean_pred - mean_meas) / mean_meas, 1) if mean_meas else None}


def _median(results: list[dict], key: str, sub: str | None = None):
    vals = [(r.get(key) or {}).get(sub) if sub else r.get(key) for r in results]
    vals = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return statistics.median(vals) if vals else None


def report(target, results: Iterable[dict]) -> dict:
    """What the report's "A Nuxeo node stops" section says, for ``target`` and the ``rcap node-stop`` results:
    ``crash`` (expected orphans and bytes per crash at the target's rates), ``graceful``/``crashed`` (medians of
    the runs), ``validation`` (predicted vs measured, crash runs)."""
    results = list(results)
    graceful = [r for r in results if r.get("mode") == "graceful" and r.get("status") == "complete"]
    crashed = [r for r in results if r.get("mode") == "crash" and r.get("status") == "complete"]
    out = {"crash": crash_cost(target), "graceful": None, "crashed": None, "validation": validation(crashed)}
    if graceful:
        out["graceful"] = {"runs": len(graceful), "acked": _median(graceful, "acked"),
                           "rescheduled": _median(graceful, "rescheduled"),
                           "orphaned": max(r["orphaned_running"] for r in graceful),
                           "lost": max(r["lost"] for r in graceful),
                           "completed_twice": _median(graceful, "completed_twice")}
    if crashed:
        out["crashed"] = {"runs": len(crashed), "orphaned": _median(crashed, "orphaned_running"),
                          "orphaned_bytes": _median(crashed, "orphaned_bytes"),
                          "lost": max(r["lost"] for r in crashed),
                          "await_completion_finishes": any(r.get("await_completion_finishes") for r in crashed),
                          "poison_never_ran": sum((r.get("poisoned") or {}).get("never_ran", 0) for r in crashed),
                          "poison_sample": sum((r.get("poisoned") or {}).get("sample", 0) for r in crashed),
                          "cycling_pop_work_per_s": _median(crashed, "poisoned", "cycling_pop_work_per_s")}
        loads = [(r.get("poisoned") or {}).get("under_load") for r in crashed]
        loads = [u for u in loads if u]
        if loads:
            out["crashed"]["burst_delay_s"] = statistics.median(
                u["poisoned"]["span_s"] - u["baseline"]["span_s"] for u in loads)
            out["crashed"]["pops_per_work"] = (
                statistics.median(u["baseline"]["pop_work_per_completed_work"] or 0 for u in loads),
                statistics.median(u["poisoned"]["pop_work_per_completed_work"] or 0 for u in loads))
    return out
