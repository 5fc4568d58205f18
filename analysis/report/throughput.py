"""Throughput and latency against load (sweeps, USL, CPU ceilings), latency over time, and Redis's own
latencies next to the client's. Units: ops/s, µs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import plots
from analysis import throughput as tp
from analysis.compare import server_vs_client
from analysis.report.runset import Context
from analysis.report.section import Section, fmt, table
from analysis.report.series import latency_series
from analysis.servers import IO_THREADS_NOTE
from rcapcore.errors import RcapError

LOAD_LABEL = {"workmanager": "works/s", "mass-operation": "works/s", "pubsub": "msg/s"}
WORK_WORKLOADS = ("workmanager", "work-lifecycle", "mass-operation", "nuxeo-cluster")
"""Sweeps whose requests are WorkManager scripts: their ceiling is the summary's works/s one."""


DEFAULT_SLO_P99_US = 10_000.0  # when the target file sets none: 10 ms


def slo_p99_us(ctx: Context, override: float | None = None) -> float:
    """The p99 latency objective (µs): the notebook's parameter, else the target file's, else 10 ms."""
    target_slo = ctx.target.deployment.latency_slo_p99_us if ctx.target is not None else None
    return float(override or target_slo or DEFAULT_SLO_P99_US)


def _sweep_model(sweep):
    """Measured points of a sweep plus its models: ``(points, usl_fit | None, demand | None)``.

    ``points`` has the swept value in ``load`` (users, or the offered rate). The USL is fitted only on a
    closed-loop users sweep (at least 4 steps); the service demand (utilization law across the complete
    steps) gives the single-shard ceiling.
    """
    pts = sweep.frame(op="total")
    if pts.empty:
        return pts, None, None
    pts = pts.rename(columns={"value": "load"}).sort_values("load", ignore_index=True)
    fit = demand = None
    if sweep.param == "users":
        try:
            fit = tp.fit_usl(pts["load"], pts["ops_per_s"])
        except (RcapError, RuntimeError, ValueError):
            fit = None  # fewer than 4 steps or no convergence: the table says so
    complete = [r for r in sweep.runs if r.status == "complete"]
    points = [p for p in (tp.load_point(r) for r in complete) if p is not None and p.requests_per_s > 0]
    if points:
        try:  # CPU per request as a function of load, across the sweep's steps (docs/models.md)
            demand = tp.fit_cpu_model([p.requests_per_s for p in points], [p.utilization for p in points], "op")
        except RcapError:
            demand = None
    return pts, fit, demand


def _load_label(sweep, workload: str) -> str:
    if sweep.param == "users":
        return "concurrent users (closed loop)"
    return f"offered load ({LOAD_LABEL.get(workload, 'ops/s')}, open loop)"


def throughput_section(ctx: Context, slo_override: float | None = None) -> Section:
    """One figure per sweep: throughput against load with the USL fit (users sweeps) and the ceiling
    predicted from the service demand; p50/p99 latency against throughput with the p99 objective."""
    sec = Section()
    slo = slo_p99_us(ctx, slo_override)
    for sweep in ctx.runs.sweeps:
        workload = ctx.runs.workload(sweep.runs[0]) if sweep.runs else sweep.manifest.get("scenario")
        pts, fit, demand = _sweep_model(sweep)
        if pts.empty:
            continue
        fitted = None
        if fit is not None:
            n = np.linspace(1, pts["load"].max() * 1.5, 60)
            fitted = pd.DataFrame({"load": n, "ops_per_s": fit.throughput(n)})
        # one ceiling per unit (the summary's): drawn where the sweep's requests are the "op" it counts
        ceiling = None if workload in WORK_WORKLOADS else ctx.recommendation.cpu["ceiling_ops_per_s"]
        fig = plots.throughput_latency(pts, workload=workload, load_column="load",
                                       load_label=_load_label(sweep, workload), fitted=fitted,
                                       ceiling_ops_per_s=ceiling, slo_us=slo)
        swept = f"{sweep.param} {', '.join(f'{v:g}' for v in pts['load'])}"
        sec.figure(fig, f"{workload} sweep ({swept}): throughput against load"
                        + (" with the USL fit" if fitted is not None else "")
                        + (", and one shard's ops/s ceiling" if ceiling else "")
                        + f"; p50 and p99 latency against throughput, with the p99 objective of {slo:,.0f} µs.")
    if not sec.items:
        sec.md("_No sweep in the run set: record one with `rcap sweep SCENARIO --rates …` or `--users …`._")
    return sec


def throughput_model_section(ctx: Context, slo_override: float | None = None) -> Section:
    """One row per swept workload: USL coefficients with 95% intervals, ceilings, the knee at the p99 objective."""
    sec = Section()
    slo = slo_p99_us(ctx, slo_override)
    rows = []
    max_ops: dict[str, float] = {}
    for sweep in ctx.runs.sweeps:
        workload = ctx.runs.workload(sweep.runs[0]) if sweep.runs else sweep.manifest.get("scenario")
        pts, fit, demand = _sweep_model(sweep)
        if pts.empty:
            continue
        supported = pts[pts["count"].map(tp.p99_supported)] if "count" in pts else pts.iloc[0:0]
        use = supported if len(supported) else pts  # indicative only when no step supports a p99
        knee = tp.latency_knee(use["ops_per_s"], use["p99_us"], slo)
        basis = (f"supported ({len(supported)} of {len(pts)} steps ≥ {tp.P99_MIN_REQUESTS:,} requests)"
                 if len(supported) else f"indicative (every step < {tp.P99_MIN_REQUESTS:,} requests)")
        rows.append({
            "workload": workload,
            "swept": f"{sweep.param} {', '.join(f'{v:g}' for v in pts['load'])}",
            "max measured (ops/s)": fmt(float(pts["ops_per_s"].max())),
            f"knee at p99 ≤ {slo:,.0f} µs (ops/s)": fmt(knee) if knee else "no step met it",
            "p99 basis": basis,
            "USL σ (95% CI)": f"{fit.sigma:.3f} ({fit.sigma_ci[0]:.3f}–{fit.sigma_ci[1]:.3f})" if fit else "—",
            "USL κ (95% CI)": f"{fit.kappa:.2e} ({fit.kappa_ci[0]:.1e}–{fit.kappa_ci[1]:.1e})" if fit else "—",
            "USL R²": f"{fit.r2:.3f}" if fit else "—",
            "USL peak of this sweep (ops/s)": fmt(fit.peak_throughput) if fit else "—",
            "CPU per request (µs), light load → saturated": (
                f"{demand.busy_us + demand.turn_us:.1f} → {demand.busy_us:.1f}") if demand else "—",
            "loadgen-bound steps": int(pts["loadgen_bound"].fillna(False).astype(bool).sum())
            if "loadgen_bound" in pts else 0,
        })
        if workload not in WORK_WORKLOADS:
            max_ops[workload] = float(pts["ops_per_s"].max())
    if not rows:
        return sec.md("_No sweep in the run set._")
    sec.add(table(rows, index="workload").T)
    c = ctx.recommendation.cpu
    text = (f"**One shard's ceiling** (the summary's, at 100 % of the main thread): **{c['ceiling_works_per_s']:,.0f} "
            f"works/s** for WorkManager lifecycles and **{c['ceiling_ops_per_s']:,.0f} ops/s**, where an op is one "
            "client request (one command or one script call, one round trip). Both come from the CPU per request "
            f"measured in these sweeps ({c['ceiling_method']['works']}; {c['ceiling_method']['ops']}). "
            "The USL peak is the throughput at which the load generator's concurrency stops helping; it is not a "
            "ceiling of Redis.")
    above = {w: v for w, v in max_ops.items() if v > c["ceiling_ops_per_s"]}
    if above:
        text += (" " + ", ".join(f"{w} measured {v:,.0f} ops/s" for w, v in above.items())
                 + ", above that ceiling: those requests cost less CPU than the mix the ceiling is fitted on "
                   "(see *Model validation* for the model's error).")
    sec.md(text)
    sec.values["throughput"] = rows
    sec.md(IO_THREADS_NOTE)
    return sec


def latency_section(ctx: Context) -> Section:
    """p99 per second of the busiest operations, for the mass operation and the heaviest WorkManager run.

    Decoding every per-second histogram of every run is slow (tens of ms each), so only these two runs
    are drawn; every run's whole-run percentiles are in the inventory.
    """
    sec = Section()
    picks = []
    for workload in ("mass-operation", "workmanager"):
        runs = ctx.runs.of(workload)
        if runs:
            picks.append(max(runs, key=lambda r: r.summary.get("total", {}).get("ops_per_s") or 0))
    for run in picks:
        series = latency_series(run)
        if len(series):
            rate = run.params().get("rate")
            sec.add(plots.latency_over_time(series, title=f"{ctx.runs.workload(run)}"
                                                          f"{f' at {rate:g}/s offered' if rate else ''} · {run.id[:16]}"))
    if not sec.items:
        sec.md("_No complete WorkManager or mass-operation run with latency data in the run set._")
    return sec


def server_latency_section(ctx: Context) -> Section:
    """Server-side p50/p99 (Redis's own ``latencystats``, recorded per run in ``diagnostics.json``) next to
    the client-side µs histograms, per command, for the busiest complete run of each workload."""
    sec = Section()
    best: dict[str, object] = {}
    for run in ctx.runs.runs:
        workload = ctx.runs.workload(run)
        if run.status != "complete" or not run.diagnostics or workload is None:
            continue
        rate = run.summary.get("total", {}).get("ops_per_s") or 0
        if workload not in best or rate > (best[workload].summary.get("total", {}).get("ops_per_s") or 0):
            best[workload] = run
    rows = []
    for workload, run in sorted(best.items()):
        for r in server_vs_client(run):
            if r["server_p99_us"] is None or not r["client_p99_us"]:
                continue
            rows.append({"workload": workload, "command": r["command"],
                         "client p50 (µs)": fmt(r["client_p50_us"]), "server p50 (µs)": fmt(r["server_p50_us"]),
                         "client p99 (µs)": fmt(r["client_p99_us"]), "server p99 (µs)": fmt(r["server_p99_us"]),
                         "p99 outside Redis": f"{1 - r['server_p99_us'] / r['client_p99_us']:.0%}",
                         "server figures cover": r["scope"]})
    if not rows:
        return sec.md("_No run in the set recorded Redis's own latencies (`diagnostics.json`, Redis ≥ 7)._")
    sec.add(table(rows))
    sec.values["server_vs_client"] = rows
    return sec
