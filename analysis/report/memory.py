"""Memory against backlog: the measured cost of a pending work, its breakdown, and the node RAM part by part.
Units: bytes, works."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import memory as mem
from analysis import plots
from analysis.memory import fit_linear
from analysis.report.runset import Context, RunSet, ctx_value
from analysis.report.section import Section, table
from analysis.report.series import backlog_series
from analysis.validation import layout_of
from rcapcore.nuxeo.payloads import work_type


MEMORY_WORKLOADS = ("mass-operation",)  # one work type (reindex buckets): one cost per work


def memory_points(runs: RunSet):
    """Every second of the WorkManager runs that grew a backlog: ``backlog_works``, ``used_memory_bytes``,
    ``payload_bytes`` (the scenario's work type) and ``run_id``. Runs whose backlog never passed 100
    works say little about the cost per work and are left out."""
    frames = []
    for workload in MEMORY_WORKLOADS:
        for run in runs.of(workload):
            s = backlog_series(run)
            if s.empty or s["backlog_works"].max() < 100 or s["used_memory_bytes"].isna().all():
                continue
            frames.append(s.assign(run_id=run.id, workload=workload))
    if not frames:
        return pd.DataFrame(columns=["t_s", "backlog_works", "used_memory_bytes", "run_id", "workload"])
    return pd.concat(frames, ignore_index=True)


def memory_fit(points):
    """Least-squares line used_memory = intercept + slope × backlog (``analysis.memory.fit_linear``),
    with its 95% intervals; the slope is the measured cost of one pending work (bytes)."""
    return fit_linear(points["backlog_works"], points["used_memory_bytes"])


def memory_section(ctx: Context) -> Section:
    """Measured used_memory against backlog and the fit, as a cross-check of the memory model at the
    target's peak: the model's numbers are the memory breakdown's (one number per quantity)."""
    sec = Section()
    pts = memory_points(ctx.runs)
    if pts.empty:
        return sec.md("_No WorkManager run with a backlog in the run set: memory growth was not measured._")
    fit = memory_fit(pts)
    rec = ctx.recommendation
    m, mo = rec.memory, rec.mass_operation or {}
    # the reindex works alone at the memory peak: the works the recorded run also held (one work type)
    peak = mo.get("peak_bytes_mass_works") or ctx_value(ctx, "peak_backlog_works")
    backlog_model = peak * mo["bytes_per_work"] if peak and mo.get("bytes_per_work") else None
    top = max(float(pts["backlog_works"].max()), peak or 0.0) * 1.05
    xs = np.geomspace(1, top, 80) if peak and peak > 10 * pts["backlog_works"].max() else np.linspace(0, top, 80)
    band = [fit.predict(x) for x in xs]
    fitted = pd.DataFrame({"backlog_works": xs, "used_memory_bytes": [b[0] for b in band],
                           "low_bytes": [b[1] for b in band], "high_bytes": [b[2] for b in band]})
    fig = plots.memory_vs_backlog(pts, fitted=fitted, target_backlog_works=peak if backlog_model else None,
                                  target_used_memory_bytes=backlog_model, total_used_memory_bytes=m["dataset_bytes"],
                                  maxmemory_bytes=m["maxmemory_bytes"])
    sec.figure(fig, "Redis used_memory against pending works: the recorded mass operation's 1 s samples and their "
                    "linear fit (with its 95% interval), projected to the target's peak backlog; the memory model's "
                    "pending works alone and the whole used_memory at that peak, against the recommended maxmemory.")
    rows = {
        "measured bytes per pending work (slope, 95% CI)":
            f"{fit.slope:,.0f} B ({fit.slope_ci[0]:,.0f}–{fit.slope_ci[1]:,.0f})",
        "used_memory with no backlog (intercept)": plots.human_bytes(fit.intercept),
        "fit quality R²": f"{fit.r2:.4f}",
        "samples (1 s each)": f"{fit.n} from {ctx.runs.labels(sorted(set(pts['run_id'])))}",
        "largest measured backlog": f"{pts['backlog_works'].max():,.0f} works",
    }
    if peak:
        y, lo, hi = fit.predict(peak)
        rows["target peak backlog"] = f"{peak:,.0f} works ({peak / max(pts['backlog_works'].max(), 1):,.0f}× the largest measured)"
        if backlog_model:
            slope_only = y - fit.intercept
            rows["the mass operation's works alone at the peak (memory model)"] = plots.human_bytes(backlog_model)
            rows["cross-check: the fit's projection of the same"] = (
                f"{plots.human_bytes(slope_only)} (95% prediction {plots.human_bytes(lo - fit.intercept)}–"
                f"{plots.human_bytes(hi - fit.intercept)}; model {100 * (backlog_model - slope_only) / slope_only:+.1f}%)")
        rows["used_memory at the peak, all parts (memory table)"] = (
            f"{plots.human_bytes(m['dataset_bytes'])}, {m['dataset_bytes'] / m['maxmemory_bytes']:.0%} of maxmemory "
            f"{plots.human_bytes(m['maxmemory_bytes'])}")
    sec.add(table(rows))
    sec.values.update(bytes_per_work=fit.slope, intercept_bytes=fit.intercept, r2=fit.r2,
                      projected_bytes=fit.predict(peak)[0] if peak else None)
    return sec


def memory_breakdown_section(ctx: Context) -> Section:
    """Where the bytes of one pending work go (analytic model) against the measured slope."""
    sec = Section()
    runs = ctx.runs.of("mass-operation")
    if not runs:
        return sec.md("_No mass-operation run in the run set._")
    run = runs[-1]
    params = run.manifest.get("scenario", {}).get("params", {})
    payload = int(work_type(params.get("work_type", "reindexBucket")).mean_size_bytes())
    layout = layout_of(run.manifest)
    n = 100_000
    parts = mem.pending_works(n, mem.WorkShape(payload), layout).parts
    rows = [{"part": k, "bytes per work": round(v / n, 1), "share": f"{v / sum(parts.values()):.1%}"}
            for k, v in parts.items()]
    total = sum(parts.values()) / n
    rows.append({"part": "total (analytic)", "bytes per work": round(total, 1), "share": "100%"})
    pts = memory_points(ctx.runs)
    if len(pts):
        slope = memory_fit(pts).slope
        rows.append({"part": "measured slope (fit above)", "bytes per work": round(slope, 1),
                     "share": f"model {100 * (total - slope) / slope:+.1f}% vs measured"})
    sec.md(f"One pending `{params.get('work_type', 'reindexBucket')}` work of {payload:,} B payload, "
           f"{layout.label}, averaged over {n:,} pending works "
           f"({plots.human_bytes(sum(parts.values()))} in all):")
    sec.add(table(rows, index="part"))
    return sec


def memory_parts(rec) -> list[tuple[str, float, str]]:
    """The one memory breakdown of the report: ``(label, bytes, kind)`` rows from the peak dataset to
    the node RAM, as the sizing engine computed them (``sizing.json``: ``memory.parts`` and
    ``memory.node_parts``). ``kind`` is ``part`` or ``total``."""
    m = rec.memory
    p, n = m["parts"], m["node_parts"]
    rows = [(_dataset_label(rec, k), v, "part") for k, v in p.items()]
    rows.append(("= used_memory at the peak (dataset)", m["dataset_bytes"], "total"))
    rows += [(NODE_LABELS.get(k, k), v, "part") for k, v in n.items() if k != "dataset"
             and k in ("backlog + client buffers", "headroom")]
    rows.append(("= maxmemory", m["maxmemory_bytes"], "total"))
    rows += [(NODE_LABELS.get(k, k), v, "part") for k, v in n.items()
             if k not in ("dataset", "backlog + client buffers", "headroom")]
    if m["node_ram_bytes"] > rec_node_ram_sum(rec) + 1:  # a topology rule raised the node (Enterprise: 30 % free)
        rows.append(("topology rule (Redis Enterprise keeps 30 % of RAM free)", m["node_ram_bytes"] -
                     rec_node_ram_sum(rec), "part"))
    rows.append(("= RAM per data node", m["node_ram_bytes"], "total"))
    return rows


def _dataset_label(rec, key: str) -> str:
    """A dataset part's label; the mass operation's says which works its queue holds at the peak (live
    indexing works wait in the same queue, spec Corrections 10)."""
    mo = rec.mass_operation or {}
    if key == "mass operation peak" and mo.get("peak_bytes_live_works"):
        return (f"queue of the mass operation at the memory peak: {mo['peak_bytes_mass_works']:,.0f} of its works + "
                f"{mo['peak_bytes_live_works']:,.0f} live indexing works behind them")
    if key == "mass operation peak" and mo.get("peak_bytes_mass_works"):
        return f"queue of the mass operation at the memory peak: {mo['peak_bytes_mass_works']:,.0f} works"
    return DATASET_LABELS.get(key, key)


def rec_node_ram_sum(rec) -> float:
    n = rec.memory["node_parts"]
    return rec.memory["maxmemory_bytes"] + sum(v for k, v in n.items()
                                               if k not in ("dataset", "backlog + client buffers", "headroom"))


DATASET_LABELS = {
    "base": "empty Redis (baseline)",
    "steady works": "pending works in steady state",
    "mass operation peak": "pending works of the mass operation at its peak (backlog)",
    "kv keys": "KeyValue store keys",
}
NODE_LABELS = {
    "backlog + client buffers": "+ replication backlog and client buffers",
    "headroom": "+ headroom",
    "fragmentation": "+ allocator fragmentation",
    "replica output buffers": "+ replica output buffers",
    "fork copy-on-write": "+ fork copy-on-write",
    "OS reserve": "+ OS reserve",
}


def maxmemory_section(ctx: Context, rec=None) -> Section:
    """The memory at the peak, part by part: the only place the report adds the parts up."""
    rec = rec or ctx.recommendation
    m = rec.memory
    rows, inside = [], True  # shares only up to maxmemory: beyond it they would read as "166 % of maxmemory"
    for label, v, kind in memory_parts(rec):
        if v or kind == "total":
            rows.append({"part": label, "size": plots.human_bytes(v),
                         "share of maxmemory": f"{v / m['maxmemory_bytes']:.1%}" if inside else ""})
        if label == "= maxmemory":
            inside = False
    sec = Section().md(
        f"**Memory at the peak, part by part** ({m['layout']}, calibrated ×{m['memory_scale']:.3f} on the runs, "
        f"95% CI {m['memory_scale_ci'][0]:.3f}–{m['memory_scale_ci'][1]:.3f}). Every memory figure in this report "
        "is one of these rows:")
    sec.add(table(rows, index="part"))
    sec.values.update(dataset_bytes=m["dataset_bytes"], maxmemory_bytes=m["maxmemory_bytes"],
                      node_ram_bytes=m["node_ram_bytes"], memory_parts=memory_parts(rec))
    return sec
