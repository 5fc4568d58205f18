"""The mass operation: the recorded one against the backlog model, and the target's simulated against
the recommended maxmemory. Units: works, works/s, bytes, s."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import memory as mem
from analysis import plots
from analysis.backlog import BacklogInput, simulate
from analysis.report.runset import Context
from analysis.report.section import Section, table
from analysis.report.series import backlog_series
from analysis.sizing import mass_backlog_input, traffic_of
from analysis.validation import layout_of
from rcapcore.nuxeo.payloads import work_type
from rcapcore.nuxeo.queues import LIVE_WAIT_REQUEST


def measured_mass_operation(ctx: Context):
    """The latest complete mass-operation run with the backlog model's prediction for the same λ and μ:
    ``(run, measured, predicted)`` or ``None``. The prediction starts at the run's last empty-backlog
    sample (Locust's users take a moment to start) and uses the analytic bytes per work."""
    runs = ctx.runs.of("mass-operation")
    if not runs:
        return None
    run = runs[-1]
    measured = backlog_series(run)
    p = run.manifest.get("scenario", {}).get("params", {})
    growing = measured[measured["backlog_works"] > 0]
    if growing.empty or not p.get("schedule_rate") or not p.get("consume_rate"):
        return None
    t0 = float(measured.loc[measured.index < growing.index[0], "t_s"].max())
    t0 = t0 if pd.notna(t0) else 0.0
    lam, mu, works = float(p["schedule_rate"]), float(p["consume_rate"]), int(p.get("works") or 0)
    threads = int(p.get("threads") or 1) * int(p.get("nodes") or 1)
    payload = int(work_type(p.get("work_type", "reindexBucket")).mean_size_bytes())
    per_work = mem.pending_works_bytes(100_000, mem.WorkShape(payload), layout_of(run.manifest)) / 100_000
    horizon = float(measured["t_s"].max()) - t0
    live = float(p.get("live_indexing_per_s") or 0.0)  # live works queue behind the buckets (Corrections 10)
    phases = ((0.0, lam + live), (works / lam, live)) if works and works / lam < horizon else ((0.0, lam + live),)
    base = float(measured.loc[measured["t_s"] <= t0, "used_memory_bytes"].iloc[-1])
    res = simulate(BacklogInput(phases, threads, 1, threads / mu, per_work, base_bytes=base, horizon_s=horizon))
    pred = res.points.rename(columns={"backlog": "backlog_works", "memory_bytes": "used_memory_bytes"})
    pred = pred.assign(t_s=pred["t_s"] + t0)
    return run, measured, pred


def mass_operation_run_section(ctx: Context) -> Section:
    """The recorded mass operation: measured backlog and memory over time against the backlog model."""
    sec = Section()
    got = measured_mass_operation(ctx)
    if got is None:
        return sec.md("_No mass-operation run in the run set._")
    run, measured, pred = got
    maxmem = (run.manifest.get("server") or {}).get("maxmemory_bytes") or None
    p = run.manifest["scenario"]["params"]
    sec.figure(plots.mass_operation_timeline(pred, measured=measured, maxmemory_bytes=maxmem,
                                             title=f"Recorded mass operation: λ = {p['schedule_rate']:g} works/s, "
                                                   f"μ = {p['consume_rate']:g} works/s"),
               f"The recorded test mass operation (run {ctx.runs.label(run)}): backlog (top) and used_memory "
               "(bottom) every second, measured (squares) against the backlog model for the same rates (line).")
    end = measured.iloc[-1]
    at = lambda col: float(np.interp(end["t_s"], pred["t_s"], pred[col]))  # noqa: E731
    rows = [{"at the end of the run": "backlog (works)", "predicted": f"{at('backlog_works'):,.0f}",
             "measured": f"{end['backlog_works']:,.0f}",
             "error": f"{100 * (at('backlog_works') - end['backlog_works']) / max(end['backlog_works'], 1):+.1f}%"},
            {"at the end of the run": "used_memory", "predicted": plots.human_bytes(at("used_memory_bytes")),
             "measured": plots.human_bytes(end["used_memory_bytes"]),
             "error": f"{100 * (at('used_memory_bytes') - end['used_memory_bytes']) / end['used_memory_bytes']:+.1f}%"}]
    sec.add(table(rows, index="at the end of the run"))
    live = run.latency[(run.latency["op"] == LIVE_WAIT_REQUEST) & (run.latency["kind"] == "measured")]
    if len(live):  # live IndexingWorkers in the same queue (spec Corrections 10): FIFO wait B(t) / μ
        mu = float(p["consume_rate"])
        ts = np.linspace(float(pred["t_s"].min()), float(pred["t_s"].max()), 2000)
        waits = np.interp(ts, pred["t_s"], pred["backlog_works"]) / mu
        last = live.iloc[-1]
        t_pop = float(last["elapsed_s"]) + 0.5
        predicted = float(np.interp(t_pop, ts + waits, waits))  # scheduled at t, popped at t + B(t)/μ
        sec.md(f"Live indexing in the same queue ({p.get('live_indexing_per_s', 0):g} works/s): the last live "
               f"work popped (t ≈ {t_pop:,.0f} s) had waited **{last['max_us'] / 1e6:,.1f} s** behind the "
               f"buckets; the backlog model's FIFO wait for it: {predicted:,.1f} s.")
    return sec


def mass_operation_section(ctx: Context) -> Section:
    """The target's mass operation simulated with the backlog model, against the recommended maxmemory."""
    rec = ctx.recommendation
    mo_spec, mo = ctx.target.mass_operation, rec.mass_operation
    sec = Section()
    if mo_spec is None or mo is None:
        return sec.md("_The target file has no mass operation._")
    nodes = mo_spec.nodes or (ctx.target.business.nodes if ctx.target.business else 1)
    base = rec.memory["dataset_bytes"] - rec.memory["parts"]["mass operation peak"]
    maxmem = rec.memory["maxmemory_bytes"]
    res = simulate(mass_backlog_input(ctx.target, traffic_of(ctx.target), mo["bytes_per_work"], base, maxmem,
                                      live_bytes_per_work=mo.get("live_bytes_per_work", 0.0)))
    pts = res.points.rename(columns={"backlog": "backlog_works", "memory_bytes": "used_memory_bytes"})
    sec.figure(plots.mass_operation_timeline(pts, maxmemory_bytes=maxmem, oom_at_s=res.oom_t_s,
                                             title=f"{mo['name']}: predicted backlog and memory"),
               f"The target's {mo['name']}, predicted by the backlog model: pending works (top) and used_memory "
               "(bottom) against the recommended maxmemory"
               + (", with the moment maxmemory is reached." if res.oom_t_s is not None else "."))
    rows = {
        "works scheduled": f"{mo['works']:,} ({mo_spec.documents:,} documents / {mo_spec.docs_per_work} per work)",
        "scheduling rate λ": f"{mo['arrival_works_per_s']:,.1f} works/s (at most "
                             f"{mo.get('scheduling_cap_works_per_s', float('inf')):,.0f}: one round trip at a time "
                             "per queue per node)",
        "consumption rate μ": f"{res.service_rate_per_s:,.1f} works/s "
                              f"({mo_spec.threads_per_node} threads × {nodes} nodes"
                              + (f" − {mo.get('live_indexing_works_per_s', 0) * ctx.target.business.work_processing_ms / 1000:,.1f}"
                                 " kept by live indexing" if mo.get("live_indexing_works_per_s") else "")
                              + f", / {mo_spec.processing_ms:,.0f} ms)",
        "peak backlog": f"{res.peak_backlog:,.0f} works at t = {res.peak_t_s / 60:,.1f} min",
        "used_memory at the peak (all parts, memory table)": (
            f"{plots.human_bytes(rec.memory['dataset_bytes'])}, of which the pending works "
            f"{plots.human_bytes(rec.memory['parts']['mass operation peak'])}"),
        "time to drain after the peak": (f"{res.time_to_drain_s / 60:,.1f} min" if res.time_to_drain_s is not None
                                         else "does not drain"),
        "maxmemory reached": (f"at t = {res.oom_t_s / 60:,.1f} min, {res.lost_works:,.0f} works refused"
                              if res.oom_t_s is not None else f"no (maxmemory {plots.human_bytes(maxmem)})"),
    }
    if mo.get("live_indexing_works_per_s"):
        rows["live indexing lag (same elasticSearchIndexing queue)"] = (
            f"up to {mo['live_lag_max_s'] / 60:,.1f} min at t = {mo['live_lag_max_t_s'] / 60:,.1f} min; "
            f"live documents wait > {mo['live_lag_threshold_s']:.0f} s for {mo['live_lagging_s'] / 60:,.1f} min "
            f"({mo['live_indexing_works_per_s']:,.1f} IndexingWorkers/s queue behind the buckets)")
    sec.add(table(rows))
    sec.values.update(peak_backlog_works=res.peak_backlog, oom_t_s=res.oom_t_s)
    return sec
