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
    """Measured used_memory against backlog, the fit, and its projection to the target's peak backlog."""
    sec = Section()
    pts = memory_points(ctx.runs)
    if pts.empty:
        return sec.md("_No WorkManager run with a backlog in the run set: memory growth was not measured._")
    fit = memory_fit(pts)
    peak = ctx_value(ctx, "peak_backlog_works")
    top = max(float(pts["backlog_works"].max()), peak or 0.0) * 1.05
    xs = np.geomspace(1, top, 80) if peak and peak > 10 * pts["backlog_works"].max() else np.linspace(0, top, 80)
    band = [fit.predict(x) for x in xs]
    fitted = pd.DataFrame({"backlog_works": xs, "used_memory_bytes": [b[0] for b in band],
                           "low_bytes": [b[1] for b in band], "high_bytes": [b[2] for b in band]})
    target_bytes = fit.predict(peak)[0] if peak else None
    sec.add(plots.memory_vs_backlog(pts, fitted=fitted, target_backlog_works=peak,
                                    target_used_memory_bytes=target_bytes,
                                    maxmemory_bytes=ctx_value(ctx, "maxmemory_bytes")))
    rows = {
        "measured bytes per pending work (slope, 95% CI)":
            f"{fit.slope:,.0f} B ({fit.slope_ci[0]:,.0f}–{fit.slope_ci[1]:,.0f})",
        "used_memory with no backlog (intercept)": plots.human_bytes(fit.intercept),
        "fit quality R²": f"{fit.r2:.4f}",
        "samples (1 s each)": f"{fit.n} from {pts['run_id'].nunique()} run(s)",
        "largest measured backlog": f"{pts['backlog_works'].max():,.0f} works",
    }
    if peak:
        y, lo, hi = fit.predict(peak)
        rows["target peak backlog"] = f"{peak:,.0f} works"
        rows["projected used_memory at the peak (95% prediction interval)"] = \
            f"{plots.human_bytes(y)} ({plots.human_bytes(lo)}–{plots.human_bytes(hi)})"
        rows["extrapolation factor"] = f"{peak / max(pts['backlog_works'].max(), 1):,.0f}×"
        mo = ctx.recommendation.mass_operation or {}
        if mo.get("peak_bytes"):
            rows["sizing engine's mass-operation peak (calibrated analytic model)"] = plots.human_bytes(mo["peak_bytes"])
    sec.add(table(rows))
    sec.values.update(bytes_per_work=fit.slope, intercept_bytes=fit.intercept, r2=fit.r2,
                      projected_bytes=target_bytes)
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


def maxmemory_section(ctx: Context) -> Section:
    """The node RAM, part by part, from the dataset at the peak to the OS reserve."""
    rec = ctx.recommendation
    m = rec.memory
    sec = Section()
    rows = [{"part": "dataset: " + k, "bytes": plots.human_bytes(v)} for k, v in m["parts"].items() if v]
    rows += [{"part": k, "bytes": plots.human_bytes(v)} for k, v in m["node_parts"].items()
             if v and k != "dataset"]
    rows += [{"part": "→ maxmemory", "bytes": plots.human_bytes(m["maxmemory_bytes"])},
             {"part": "→ node RAM", "bytes": plots.human_bytes(m["node_ram_bytes"])}]
    sec.md(f"Memory model: {m['layout']}, calibrated ×{m['memory_scale']:.3f} "
           f"(95% CI {m['memory_scale_ci'][0]:.3f}–{m['memory_scale_ci'][1]:.3f}) on the runs.")
    sec.add(table(rows, index="part"))
    return sec
