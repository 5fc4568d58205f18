"""Model validation: every prediction checked against a measurement the model was not fitted on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import plots
from analysis import throughput as tp
from analysis.report.mass_operation import measured_mass_operation
from analysis.report.runset import Context, RunSet, experiment_results
from analysis.report.section import Section, fmt, plural
from analysis.validation import CEILING_GOAL, MEMORY_GOAL, check_memory, memory_observations
from rcapcore.errors import RcapError
from analysis.memory_wall import memory_wall_prediction


def memory_wall_results(runs: RunSet) -> list[tuple]:
    """``[(run, result)]`` of the memory-wall experiments (``rcap memory-wall``) in the run set."""
    return experiment_results(runs, "memory-wall")


def _memory_extrapolation_row(ctx: Context) -> dict | None:
    """Calibrate the memory model on the mass operation's first fifth of backlog and predict its largest."""
    runs = ctx.runs.of("mass-operation")
    if not runs:
        return None
    obs, layout = memory_observations(runs, min_backlog=100)
    if len(obs) < 3:
        return None
    top = max(o.count for o in obs)
    fit = [o for o in obs if o.count <= top / 5] or obs[:1]
    held = [max(obs, key=lambda o: o.count)]
    _, checks = check_memory(fit, held, layout)
    c = checks[0]
    factor = held[0].count / max(o.count for o in fit)
    return {"check": f"memory model: used_memory growth at {held[0].count:,} works (fit ≤ {max(o.count for o in fit):,})",
            "predicted": c.predicted, "measured": c.measured, "error_pct": 100 * c.error,
            "goal_pct": 100 * MEMORY_GOAL, "source": f"mass operation, extrapolated {factor:.1f}×", "unit": "bytes"}


def _backlog_row(ctx: Context) -> dict | None:
    """The backlog model (λ, μ of the recorded mass operation) against the backlog measured at its end."""
    got = measured_mass_operation(ctx)
    if got is None:
        return None
    run, measured, pred = got
    end = measured.iloc[-1]
    predicted = float(np.interp(end["t_s"], pred["t_s"], pred["backlog_works"]))
    if end["backlog_works"] <= 0:
        return None
    return {"check": "backlog model: pending works at the end of the recorded mass operation",
            "predicted": predicted, "measured": float(end["backlog_works"]),
            "error_pct": 100 * (predicted - end["backlog_works"]) / end["backlog_works"], "goal_pct": 5.0,
            "source": f"fluid model with the scenario's λ and μ (run {ctx.runs.label(run)})"}


def _ceiling_row(ctx: Context) -> dict | None:
    """The works/s ceiling model fitted on the light-load WorkManager sweep alone, predicting the saturation
    probe's throughput at the main-thread utilization the probe reached: the sizing's own check
    (``sizing.json`` ``cpu.ceiling_validation``, ``analysis.throughput.Ceilings.validation``), not a second fit."""
    if not (ctx.runs.sweeps_of("workmanager") or ctx.runs.sweeps_of(tp.PROBE_WORKLOAD)):
        return None
    v = ctx.recommendation.cpu.get("ceiling_validation")
    if v is None:
        return {"check": "single-shard works/s ceiling", "predicted": None, "measured": None, "error_pct": None,
                "goal_pct": 100 * CEILING_GOAL,
                "source": "no saturation probe (work-lifecycle closed-loop sweep) and light-load sweep in the run set"}
    note = "" if v["saturated"] else (f"; not saturated ({v['at_utilization']:.0%} of a core, a shared or small "
                                      "load machine): compared at that utilization")
    return {"check": f"single-shard works/s at {v['at_utilization']:.0%} main thread (saturation probe)",
            "predicted": v["predicted_works_per_s"], "measured": v["measured_works_per_s"],
            "error_pct": 100 * v["error"], "goal_pct": 100 * CEILING_GOAL,
            "source": f"model from the light-load sweep only; probe run {ctx.runs.label(v['probe_run'])}{note}"}


def _ops_ceiling_row(ctx: Context) -> dict | None:
    """The ops/s model fitted on a closed-loop KV sweep's lighter steps, predicting its heaviest step."""
    for sweep in ctx.runs.sweeps_of("kv-set"):
        pts = [p for p in (tp.load_point(r) for r in sweep.runs if r.status == "complete") if p and p.requests_per_s]
        if len(pts) < 3:
            continue
        pts.sort(key=lambda p: p.requests_per_s)
        top, rest = pts[-1], pts[:-1]
        try:
            m = tp.fit_cpu_model([p.requests_per_s for p in rest], [p.utilization for p in rest], "op")
        except RcapError:
            continue
        predicted = m.throughput_at(top.utilization)
        return {"check": f"single-shard ops/s at {top.utilization:.0%} main thread (closed-loop SET sweep)",
                "predicted": predicted, "measured": top.requests_per_s,
                "error_pct": 100 * (predicted - top.requests_per_s) / top.requests_per_s,
                "goal_pct": 100 * CEILING_GOAL,
                "source": f"model from the lighter steps; heaviest step run {ctx.runs.label(top.run_id)}"}
    return None


def validation_rows(ctx: Context) -> list[dict]:
    """Every prediction checked against a measurement the model was not fitted on:
    ``check``, ``predicted``, ``measured``, ``error_pct`` (signed), ``goal_pct``, ``source``."""
    return ctx.once("validation_rows", lambda: _validation_rows(ctx))


def _validation_rows(ctx: Context) -> list[dict]:
    rows = [r for r in (_memory_extrapolation_row(ctx), _backlog_row(ctx), _ceiling_row(ctx), _ops_ceiling_row(ctx))
            if r is not None]
    for run, r in memory_wall_results(ctx.runs):
        model = memory_wall_prediction(r, run.manifest)  # computed now, never read from the run
        measured = r.get("backlog_at_wall")
        if model.get("available") and measured:
            rows.append({"check": "memory model: backlog at the OOM wall", "predicted": model["predicted_backlog"],
                         "measured": measured, "error_pct": model["error_pct"], "goal_pct": 3.0,
                         "source": f"memory wall at maxmemory {r['maxmemory_bytes'] / 2**20:.0f} MiB, "
                                   f"{r.get('work_type')} works (run {ctx.runs.label(run)})"})
        rule = r.get("rule_of_thumb") or {}
        if rule.get("predicted_backlog") and measured:
            rows.append({"check": "spec rule of thumb: backlog at the wall", "predicted": rule["predicted_backlog"],
                         "measured": measured, "error_pct": rule["error_pct"], "goal_pct": None,
                         "source": "1.15 × payload + 275 B per work (traffic spec §1.6)"})
    return rows


def validation_section(ctx: Context) -> Section:
    """The table of prediction errors and a bar chart against each model's goal."""
    sec = Section()
    rows = validation_rows(ctx)
    if not rows:
        return sec.md("_No validation measurement in the run set: predictions in this report carry no "
                      "measured error. Record a memory wall (`rcap memory-wall`) and a saturating sweep._")
    df = pd.DataFrame(rows)
    measured = df[df["error_pct"].notna()]
    if len(measured):
        sec.figure(plots.validation_errors(measured.assign(error_pct=measured["error_pct"].astype(float))),
                   "Prediction error of each model check, (predicted − measured) / measured, against the model's "
                   "goal (ticks); a bar beyond its ticks is a missed goal.")
    as_bytes = df["unit"].eq("bytes") if "unit" in df else pd.Series(False, index=df.index)
    show = lambda col: [plots.human_bytes(v) if b and pd.notna(v) else fmt(v)  # noqa: E731
                        for v, b in zip(df[col], as_bytes)]
    shown = df.assign(predicted=show("predicted"), measured=show("measured"),
                      error=df["error_pct"].map(lambda e: f"{e:+.1f}%" if pd.notna(e) else "—"),
                      goal=df["goal_pct"].map(lambda g: f"±{g:g}%" if pd.notna(g) else "—"),
                      verdict=[verdict(r) for r in rows])
    sec.add(shown[["check", "predicted", "measured", "error", "goal", "verdict", "source"]].set_index("check"))
    missed = [r for r in rows if verdict(r) == "MISSED"]
    if missed:
        sec.md(f"**{plural(len(missed), 'check')} missed {'its' if len(missed) == 1 else 'their'} goal**: "
               + "; ".join(f"{r['check']} ({r['error_pct']:+.1f}% against ±{r['goal_pct']:g}%)" for r in missed)
               + ". The predictions of these models carry at least that error.")
    sec.values["validation"] = rows
    sec.values["validation_missed"] = len(missed)
    return sec


def verdict(row: dict) -> str:
    """``within goal``, ``MISSED`` or ``no goal`` / ``not measured`` for one validation row."""
    if row.get("error_pct") is None:
        return "not measured"
    if row.get("goal_pct") is None:
        return "no goal"
    return "within goal" if abs(row["error_pct"]) <= row["goal_pct"] else "MISSED"
