"""HA and failover: the ``rcap failover`` experiments (what clients saw, what the audit found, each node's
throughput around the fault), the loss window, and a Nuxeo node that stops (``rcap node-stop``)."""

from __future__ import annotations

import pandas as pd

from analysis import ha, nodestop, plots
from analysis.plots import human_bytes
from analysis.report.runset import Context, RunSet, experiment_results
from analysis.report.section import Section, table
from analysis.report.series import node_throughput


def _ms(v) -> str:
    return "—" if v is None else f"{v:,.0f}"


def failover_results(runs: RunSet) -> list[tuple]:
    """``[(run, result dict)]`` for every failover experiment in the run set, oldest first."""
    return experiment_results(runs, "failover")


def failover_section(ctx: Context) -> Section:
    """One row per failover experiment: what the clients saw and what the audit found."""
    sec = Section()
    results = failover_results(ctx.runs)
    if not results:
        return sec.md("_No failover experiment in the run set. Record one with "
                      "`rcap failover --topology sentinel` and pass its directory with `--runs`._")
    rows = []
    for _run, r in results:
        acked, lost = r.get("acked") or 0, r.get("acked_lost") or 0
        rows.append({
            "experiment": f"{r.get('topology')} · {r.get('fault')}",
            "min-replicas-to-write": r.get("min_replicas_to_write"),
            "persistence": r.get("persistence"),
            "down-after (ms)": r.get("down_after_ms"),
            "detection (ms)": _ms(r.get("detection_ms")),
            "promotion (ms)": _ms(r.get("promotion_ms")),
            "client unavailable (ms)": _ms(r.get("unavailability_ms")),
            "Nuxeo sees Redis again after (ms)": _ms(r.get("nuxeo_retry_unavailability_ms")),
            "acked schedules": f"{acked:,}",
            "lost": f"{lost:,} ({100 * lost / acked:.2f}%)" if acked else f"{lost:,}",
            "duplicates": r.get("duplicates"),
            "PubSub missed": r.get("pubsub_missed"),
            "status": r.get("status"),
        })
    sec.add(table(rows, index="experiment").T)
    sec.values["failover"] = [r for _, r in results]
    return sec


def failover_timeline_section(ctx: Context) -> Section:
    """Per experiment: each node's commands/s around the fault, Sentinel events, unavailability windows."""
    sec = Section()
    for run, r in failover_results(ctx.runs):
        t0 = r.get("t0") or run.start_t
        events = pd.DataFrame([{"t_s": e["t"] - t0, "kind": e["event"]} for e in r.get("sentinel_events", [])
                               if e.get("event") in ("+sdown", "+odown", "+switch-master")])
        if len(events):  # one line per kind: the first sentinel to report it
            events = events.sort_values("t_s").drop_duplicates("kind", ignore_index=True)
        windows = [(w["start_s"], w["end_s"]) for w in r.get("unavailability_windows", [])]
        sec.add(plots.failover_timeline(node_throughput(run, t0), events=events, fault_at_s=r.get("fault_start_s"),
                                        fault_end_s=r.get("fault_end_s"), windows=windows,
                                        title=f"{r.get('topology')}: master {r.get('fault')} at "
                                              f"{r.get('fault_start_s') or 0:.0f} s"))
        sec.md(timeline_caption(run, r))
    if not sec.items:
        sec.md("_No failover experiment in the run set._")
    return sec


def _masters(run) -> tuple[str | None, str | None]:
    """The node that was master in the first and in the last server sample (None: no role column)."""
    srv = run.server
    if srv.empty or "role" not in srv or "node" not in srv:
        return None, None
    m = srv[srv["role"] == "master"].sort_values("t")
    return (m["node"].iloc[0], m["node"].iloc[-1]) if len(m) else (None, None)


def timeline_caption(run, r: dict) -> str:
    """How to read one failover timeline: whose line is whose, what "fault ends" marks, the shaded band."""
    old, new = _masters(run)
    start, end = r.get("fault_start_s"), r.get("fault_end_s")
    killed = f"node {old}" if old else "the old master"
    text = ("_How to read it_: one line per Redis node, the commands per second it served (1 s samples, so a line "
            "has gaps where a node did not answer). Before the fault the lines lie on top of each other: each "
            f"replica executes the write stream it receives from the master, so they count about as many "
            f"commands. The master was {killed}; its line drops at the fault")
    if start is not None:
        text += f" ({start:.1f} s)"
    if end is not None:
        what = {"kill": "its process restarted", "stop": "it was resumed (SIGCONT)",
                "partition": "the partition healed"}.get(r.get("fault"), "the fault was removed")
        text += f". \"fault ends\" ({end:.1f} s) marks when {what}"
        if r.get("fault") == "kill" and r.get("persistence") == "none":
            text += ", empty, since it had no persistence"
    text += ". The dotted vertical lines are the first Sentinel to report each event (`+sdown`: one Sentinel sees " \
            "the master down; `+odown`: the quorum agrees; `+switch-master`: a replica was promoted and clients " \
            "are told); the shaded band is the time the clients' writes failed."
    if r.get("fault") == "kill" and end is not None:
        text += (" Where the killed master's line comes back before `+switch-master`, the clients wrote to it again; "
                 "those writes were lost when Sentinel turned it into a replica of the new master.")
    if new and new != old:
        text += f" After the switch node {new} is the master, and the remaining replica's line overlaps it again."
    return text


def replication_lag_window(runs: RunSet) -> dict | None:
    """The largest replication lag the masters reported during the bench runs (``repl_lag_bytes_max``,
    bytes) and the time it represents at the write rate of that second (``master_repl_offset`` growth):
    ``{"lag_bytes", "write_bytes_per_s", "window_ms"}``, or None without replicas."""
    worst = None
    for run in runs.bench_runs():
        srv = run.server
        if "repl_lag_bytes_max" not in srv or "master_repl_offset" not in srv:
            continue
        m = srv[srv["role"] == "master"].sort_values("t")
        rate = m["master_repl_offset"].astype(float).diff() / m["t"].diff()
        df = pd.DataFrame({"lag": m["repl_lag_bytes_max"].astype(float), "rate": rate}).dropna()
        df = df[df["rate"] > 0]
        if df.empty:
            continue
        row = df.loc[df["lag"].idxmax()]
        window_ms = 1000 * row["lag"] / row["rate"]
        if worst is None or window_ms > worst["window_ms"]:
            worst = {"lag_bytes": float(row["lag"]), "write_bytes_per_s": float(row["rate"]),
                     "window_ms": float(window_ms), "run_id": run.id}
    return worst


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _range_ms(values: list[float]) -> str:
    """``"2,045 ms"`` for one value (or equal values), ``"2,045–3,281 ms"`` otherwise."""
    lo, hi = min(values), max(values)
    return f"{lo:,.0f} ms" if round(lo) == round(hi) else f"{lo:,.0f}–{hi:,.0f} ms"


def _s(v: float | None) -> str:
    return "never (retries exhausted)" if v is None else f"{v:,.0f} s"


def ha_advice(ctx: Context) -> dict:
    """The HA numbers for the target, each computed once (:mod:`analysis.ha`): the Sentinel plan and the Redis
    Enterprise option, the outage Nuxeo sees per ``down-after`` and the suggestion for the target's objective,
    the loss windows in the target's works, PubSub messages a node misses, and the persistence advice.
    ``failover_notes_section`` renders it; its ``values`` are this dict."""
    return ctx.once("ha_advice", lambda: _ha_advice(ctx))


def _ha_advice(ctx: Context) -> dict:
    rec, d = ctx.recommendation, ctx.target.deployment
    results = [r for _, r in failover_results(ctx.runs)]
    # the measured failover: promotion time beyond the lab's down-after (the worst experiment)
    promoted = [r for r in results if r.get("promotion_ms") is not None and r.get("down_after_ms") is not None]
    overhead_ms = max((ha.promotion_overhead_ms(r["promotion_ms"], r["down_after_ms"]) for r in promoted),
                      default=0.0)
    objective_s = d.failover_objective_s
    suggested = ha.suggest_down_after_ms(objective_s, overhead_ms)
    table = ha.outage_table(overhead_ms, objective_s)
    default = ha.production_outage(ha.SENTINEL_DEFAULT_DOWN_AFTER_MS, overhead_ms, objective_s)
    chosen = ha.production_outage(suggested, overhead_ms, objective_s) if suggested else default
    # the loss windows at the target's write rate: steady works, plus the mass operation's arrivals
    steady = rec.traffic["works_per_s"]
    mass = rec.mass_operation
    peak = steady + (mass["arrival_works_per_s"] if mass else 0.0)
    windows = []
    lag = replication_lag_window(ctx.runs)
    if lag:
        windows.append(ha.LossWindow("replication lag (steady state, bench runs)", lag["window_ms"] / 1000, peak))
    lost = [r for r in results if r.get("acked_lost") and r.get("lost_acked_between_s")]
    if lost:
        worst = max(lost, key=lambda r: r["acked_lost"])
        a, b = worst["lost_acked_between_s"]
        windows.append(ha.LossWindow(f"{worst.get('topology')} {worst.get('fault')} experiment (persistence "
                                     f"{worst.get('persistence')})", b - a, peak))
    primary = windows[0] if windows else None
    plan = ha.sentinel_plan(d.replicas, d.sentinels)
    enterprise = (rec.topology if rec.topology.get("kind") == "enterprise"
                  else rec.topology.get("enterprise_option"))
    persistence = ha.persistence_advice(ctx.target, rec)
    return {
        "topology": rec.topology.get("kind"),
        "sentinel_plan": plan.to_dict(),
        "sentinel_flags": list(plan.flags) if rec.topology.get("kind") == "sentinel" else [],
        "enterprise_option": enterprise,
        "promotion_overhead_ms": overhead_ms,
        "promotion_measured": bool(promoted),
        "failover_objective_s": objective_s,
        "suggested_down_after_ms": suggested,
        "down_after_ms": chosen.down_after_ms,
        "nuxeo_outage_s": chosen.nuxeo_outage_s,
        "nuxeo_outage_at_default_down_after_s": default.nuxeo_outage_s,
        "nuxeo_outage_one_step_more_s": (ha.production_outage(suggested + ha.DOWN_AFTER_STEP_MS, overhead_ms,
                                                              objective_s).nuxeo_outage_s if suggested else None),
        "outage_table": [row.to_dict() for row in table],
        "works_per_s_steady": steady,
        "works_per_s_peak": peak,
        "loss_windows": [w.to_dict() for w in windows],
        "loss_window_s": primary.window_s if primary else None,
        "works_at_risk": primary.works_at_risk if primary else None,
        "works_at_risk_steady": primary.window_s * steady if primary else None,
        "pubsub_messages_per_s": rec.traffic.get("publishes_per_s", 0.0),
        "pubsub_missed_per_node": (rec.traffic.get("publishes_per_s", 0.0) * chosen.nuxeo_outage_s
                                   if chosen.nuxeo_outage_s is not None else None),
        "persistence_advice": persistence.to_dict(),
        "min_replicas_to_write": plan.min_replicas_to_write,
    }


def failover_notes_section(ctx: Context) -> Section:
    """What the experiments mean for Nuxeo: the support position and the two HA options with their sizing,
    the outage a Nuxeo node sees, what a failover loses in the target's works, missed PubSub messages,
    persistence and the mitigations. Its ``values`` are :func:`ha_advice`."""
    sec = Section()
    v = ha_advice(ctx)
    sec.values.update(v)
    results = [r for _, r in failover_results(ctx.runs)]
    plan, ent, pa = v["sentinel_plan"], v["enterprise_option"], v["persistence_advice"]
    quotes = ha.NUXEO_SUPPORT_QUOTES
    sec.md(f"**Support position.** Nuxeo's Redis page ({ha.NUXEO_ARCHITECTURE_URL}): \"{quotes[0]}\"; "
           f"\"{quotes[1]}\". \"{quotes[2]}\". So the supported HA option is **Redis Enterprise**; Sentinel works "
           "with Nuxeo (rcap measures it below) but neither Redis Ltd nor Nuxeo supports it.")
    if ent:
        chosen = " (the topology this target asks for)" if v["topology"] == "enterprise" else ""
        sec.md(f"**Option 1: Redis Enterprise{chosen}**: {ent['summary']}. Each figure with its rule and source:")
        sec.add(table([{"figure": f["name"], "value": _figure(f), "rule": f["rule"], "source": f["source"]}
                       for f in ent["figures"]], index="figure"))
    chosen = " (the topology this target asks for)" if v["topology"] == "sentinel" else ""
    min_rep = (f"`min-replicas-to-write {plan['min_replicas_to_write']}` with `min-replicas-max-lag "
               f"{plan['min_replicas_max_lag_s']}`: a master cut off from both replicas stops accepting works after "
               f"{plan['min_replicas_max_lag_s']} s, which bounds what a partition loses; it keeps writing while one "
               "replica is down or after a failover (one replica left). Use it only with at least 2 replicas: with "
               "1, the master refuses every write whenever that replica is down or resyncing and right after a "
               "failover, and the WorkManager stops")
    sec.md(f"**Option 2: Sentinel{chosen}** (open source, not supported): {plan['summary']}; {plan['placement']} "
           f"(Redis's Sentinel documentation, {ha.SENTINEL_DOC_URL}, \"basic setup with three boxes\"). "
           f"Three nodes because \"{quotes[3]}\", and so that a failover is still possible while one node is down "
           f"for maintenance. Configure {min_rep}."
           + "".join(f"\n\n_Deviation: {f}._" for f in v["sentinel_flags"]))
    sec.md(_outage_text(v, results))
    sec.add(table([{"down-after-milliseconds": f"{row['down_after_ms']:,.0f}"
                    + (" (Sentinel default)" if row["down_after_ms"] == ha.SENTINEL_DEFAULT_DOWN_AFTER_MS else "")
                    + (" (suggested)" if row["down_after_ms"] == v["suggested_down_after_ms"] else ""),
                    "Redis unavailable": f"{row['redis_unavailable_s']:.1f} s",
                    "Nuxeo resumes after": _s(row["nuxeo_outage_s"]),
                    f"within {v['failover_objective_s']:g} s": "yes" if row["meets_objective"] else "no"}
                   for row in v["outage_table"]], index="down-after-milliseconds"))
    sec.md(_loss_text(v, results, ctx))
    sec.md(_persistence_text(pa, results))
    sec.md(_mitigations_text(v, pa))
    return sec


def _figure(f: dict) -> str:
    if f["unit"] == "bytes":
        return human_bytes(f["value"])
    return f"{f['value']:,.0f}"


def _outage_text(v: dict, results: list[dict]) -> str:
    objective, suggested = v["failover_objective_s"], v["suggested_down_after_ms"]
    retries = ", ".join(f"{t:g}" for t in ha.nuxeo_retry_times_s()[:5])
    promos = [r["promotion_ms"] for r in results if r.get("promotion_ms") is not None]
    lab = sorted({r["down_after_ms"] for r in results if r.get("down_after_ms") is not None})
    if v["promotion_measured"]:
        measured = (f"In the lab the promotion (fault → `+switch-master`) took {_range_ms(promos)} with "
                    f"`down-after-milliseconds` {', '.join(f'{x:,}' for x in lab)} ms: "
                    f"{v['promotion_overhead_ms']:,.0f} ms of election, promotion and client switch beyond the "
                    "detection delay, which carries over to production.")
    else:
        measured = ("No failover experiment measured the election and promotion: the table counts the detection "
                    "delay only (a lower bound); record one with `rcap failover --topology sentinel`.")
    text = (f"**The outage a Nuxeo node sees.** When a Redis call fails, Nuxeo retries after 2, 4, 8, 16 … s "
            f"(cumulative {retries} … s, within `nuxeo.redis.ha.timeout` = {ha.NUXEO_RETRY_BUDGET_S:.0f} s), so "
            "a node resumes at its first retry after Redis is back, and the request threads that schedule works "
            f"or read the KV store wait until then. {measured} If the master dies for good, Redis is unavailable "
            "for `down-after-milliseconds` plus that overhead. With Sentinel's default "
            f"{ha.SENTINEL_DEFAULT_DOWN_AFTER_MS:,} ms a Nuxeo node resumes after "
            f"{_s(v['nuxeo_outage_at_default_down_after_s'])}.")
    if suggested:
        text += (f" For the objective of {objective:g} s (`deployment.failover_objective_s`), set "
                 f"`down-after-milliseconds {suggested}`: Nuxeo resumes after {_s(v['nuxeo_outage_s'])}; 1 s more "
                 f"misses that retry and Nuxeo resumes after {_s(v['nuxeo_outage_one_step_more_s'])}.")
        if suggested < ha.FALSE_FAILOVER_BELOW_MS:
            text += (f" Below {ha.FALSE_FAILOVER_BELOW_MS:,} ms a master that only stalls (a fork of a large "
                     "dataset, a blocking KEYS, a network hiccup) can trigger a needless failover, and every "
                     "failover loses the replication window below.")
    else:
        text += (f" No `down-after-milliseconds` meets the objective of {objective:g} s: the election alone "
                 f"({v['promotion_overhead_ms']:,.0f} ms) outlasts the retries within it.")
    text += (" A master on an unreachable host (rather than a killed process) adds up to `nuxeo.redis.timeout` "
             "(2 s) per attempt; the measured overhead comes from the lab's experiments and a slower election "
             "(a failed vote is retried after `failover-timeout`) takes longer.")
    return text


def _loss_text(v: dict, results: list[dict], ctx: Context) -> str:
    lines = ["**What a failover loses.** Redis replicates asynchronously: works the master acknowledged but had "
             "not yet sent to the replica that gets promoted are gone, and Nuxeo is not told."]
    steady, peak = v["works_per_s_steady"], v["works_per_s_peak"]
    rate = (f"{peak:,.0f} works/s during the mass operation ({steady:,.0f} in steady state)" if peak != steady
            else f"{steady:,.0f} works/s")
    for w in v["loss_windows"]:
        if w["what"].startswith("replication lag"):
            lines.append(f"- **Replication window ≈ {w['window_s']:.1f} s ≈ {w['works_at_risk']:,.0f} works at the "
                         f"target's {rate}.** The replicas trailed the master by up to that much during the "
                         "benchmarks (Redis reports the lag from the replicas' once-a-second acknowledgements: an "
                         "upper bound at the benchmarks' write rate). It is the loss of a crash even with "
                         "persistence.")
    if results:
        worst = max(results, key=lambda r: r.get("acked_lost") or 0)
        acked, lost = worst.get("acked") or 0, worst.get("acked_lost") or 0
        if lost:
            exp = next(w for w in v["loss_windows"] if not w["what"].startswith("replication lag"))
            a, b = worst["lost_acked_between_s"]
            lines.append(f"- **The recorded {worst.get('fault')} experiment lost {lost:,} of {acked:,} acknowledged "
                         f"schedules ({100 * lost / acked:.2f}%)**, acknowledged between {a:.1f} s and {b:.1f} s of "
                         f"the load: {exp['window_s']:.1f} s, ≈ {exp['works_at_risk']:,.0f} works at the target's "
                         "rate. That is more than the replication window, because of how the master came back "
                         "(see Persistence).")
            start, end, promo_ms = worst.get("fault_start_s"), worst.get("fault_end_s"), worst.get("promotion_ms")
            if (worst.get("fault") == "kill" and worst.get("persistence") == "none"
                    and None not in (start, end, promo_ms) and end - start < promo_ms / 1000):
                lines.append(f"- Here the killed master restarted {end - start:.1f} s after the fault, before "
                             f"Sentinel promoted a replica ({promo_ms / 1000:.1f} s), without persistence: it came "
                             "back empty, its replicas copied the empty dataset, and every pending work went with "
                             "it. In production, this would be every pending work"
                             + (f" (up to {ctx.recommendation.mass_operation['peak_backlog']:,.0f} during the "
                                f"{ctx.recommendation.mass_operation['name']})" if ctx.recommendation.mass_operation
                                else "") + ".")
        else:
            lines.append(f"- No acknowledged schedule was lost in the worst experiment ({acked:,} audited): the "
                         "replica was up to date when the master failed. That is not a guarantee: a busier master "
                         "has a longer lag.")
        if any((r.get("duplicates") or 0) > 0 for r in results):
            lines.append("- Some works ran twice (consumed on the old master, run again from the new one): "
                         "works must be idempotent, as Nuxeo's are designed to be.")
        missed = [(r.get("pubsub_missed"), r.get("pubsub_published")) for r in results if r.get("pubsub_missed")]
        if missed:
            m, p = max(missed, key=lambda x: x[0])
            lines.append(f"- **Missed PubSub messages** ({m:,} of {p:,} in the experiment) are lost cache "
                         "invalidations: PubSub keeps nothing for a subscriber that is disconnected, so a Nuxeo node "
                         "whose subscription was down keeps stale entries in its caches (documents, directories) "
                         "until the next invalidation of those entries or their eviction"
                         + (f"; at the target's {v['pubsub_messages_per_s']:,.0f} messages/s, a subscription down "
                            f"for the whole {_s(v['nuxeo_outage_s'])} outage misses ≈ "
                            f"{v['pubsub_missed_per_node']:,.0f} of them" if v["pubsub_missed_per_node"] else "")
                         + ". Where stale reads matter, restart the Nuxeo nodes one by one after a failover.")
    else:
        lines.append("- No failover experiment was recorded for this report: the outage and loss figures use no "
                     "measured failover.")
    lines.append("- A partition is worse than a crash: the old master keeps acknowledging works from the clients "
                 "on its side until they move or `min-replicas-to-write` stops it.")
    return "\n".join(lines)


def _persistence_text(pa: dict, results: list[dict]) -> str:
    text = (f"**Persistence: AOF every second on the master and the replicas** (`{'`, `'.join(pa['settings'])}`). "
            f"{pa['reason']} Disk: {human_bytes(pa['disk_bytes'])} per node, for {pa['disk_rule']}. {pa['backups']}")
    ran = sorted({r.get("persistence") for r in results if r.get("persistence")})
    if ran and ran != [pa["mode"]]:
        text += (f" The recorded failover experiment ran with persistence {', '.join(ran)}: its losses show what "
                 "a restart without persistence does, not what this advice gives.")
    if pa["flag"]:
        text += f"\n\n_Deviation: {pa['flag']}._"
    return text


def _mitigations_text(v: dict, pa: dict) -> str:
    plan = v["sentinel_plan"]
    items = [f"three Redis nodes with a Sentinel on each (quorum {plan['quorum']}), in separate failure domains",
             f"`down-after-milliseconds {v['down_after_ms']:,.0f}` for the {v['failover_objective_s']:g} s objective"]
    if plan["min_replicas_to_write"]:
        items.append(f"`min-replicas-to-write {plan['min_replicas_to_write']}` + `min-replicas-max-lag "
                     f"{plan['min_replicas_max_lag_s']}` (2 replicas)")
    items += ["AOF `everysec` on every node, RDB backups off-site",
              "a way to schedule lost works again (a reindex, a bulk action)",
              "or Redis Enterprise, the option Nuxeo supports"]
    return "**Mitigations**: " + "; ".join(items) + "."


def node_stop_section(ctx: Context) -> Section:
    """The "A Nuxeo node stops" section: graceful vs crash, the orphans a crash leaves at the target's rates
    (Little's law, :mod:`analysis.nodestop`), the ``rcap node-stop`` measurements and the recovery procedure."""
    rep = nodestop.report(ctx.target, [r for _, r in experiment_results(ctx.runs, "node-stop")])
    c, g, k, v = rep["crash"], rep["graceful"], rep["crashed"], rep["validation"]
    sec = Section().md(
        "**Graceful stop.** Nuxeo's `shutdownAndSuspend` deactivates the queues, puts every running work back with "
        "`cancelled-running-work` (counted as *canceled*) and stops the threads: nothing is lost; a work whose "
        "side effects were already done runs again on another node."
        + (f" Measured (`rcap node-stop --mode graceful`, {_runs(g['runs'])}): median {g['rescheduled']:g} works "
           f"rescheduled, {g['orphaned']} orphaned, {g['lost']} lost, median {g['completed_twice']:g} run twice."
           if g else " _No graceful run in the run set (`rcap node-stop --mode graceful`)._"))
    rows = {"Nuxeo nodes": "1 (a Redis-level target: all works on one node)" if c["nodes_assumed"] else c["nodes"],
            "works/s per node": f"{c['works_per_s_per_node']:,.1f}",
            "processing time": f"{c['processing_ms']:,.0f} ms",
            "orphaned works per crash (steady)": f"{c['steady_orphans']:,.2f}",
            "their memory (steady)": human_bytes(c["steady_bytes"])}
    if c.get("mass_orphans") is not None:
        rows["orphaned works per crash during the mass operation"] = (
            f"{c['mass_orphans']:,.0f} (all the node's threads)")
        rows["their memory (mass operation)"] = human_bytes(c["mass_bytes"])
    sec.md("**Crash** (kill -9, OOM-killed JVM, lost VM). The node's running works stay in `run:<queue>` and in the "
           "data and state hashes forever; nothing requeues them. Expected per crash at the target's rates "
           "(works running on the node = its completion rate × processing time):").add(table(rows))
    if k:
        sec.md(f"Measured (`rcap node-stop --mode crash`, {_runs(k['runs'])}): median {k['orphaned']:g} orphaned works holding "
               f"{human_bytes(k['orphaned_bytes'])}, {k['lost']} lost. Their ids stay counted as running, so "
               f"`awaitCompletion`-style waits (reindex scripts) "
               f"{'finished' if k['await_completion_finishes'] else 'never finish'} while they remain. "
               f"Scheduled again with the same id, {k['poison_never_ran']} of {k['poison_sample']} never ran: "
               f"every `pop-work` pushes them back ({k['cycling_pop_work_per_s']:g} cycling pop-work/s), and a thread "
               "that pops one waits its 1 s poll although other works may be queued"
               + (f" (a burst of load took {k['burst_delay_s']:.1f} s longer to complete, "
                  f"{k['pops_per_work'][0]:.2f} → {k['pops_per_work'][1]:.2f} pop-work per completed work)."
                  if k.get("burst_delay_s") is not None else "."))
        if v["rows"]:
            sec.add(table(v["rows"], index="run_id"))
            sec.md(f"Model vs measured: mean predicted {v['predicted_mean']:.2f}, measured {v['measured_mean']:.2f} "
                   f"works per crash (error {v['error_pct']}%; one crash is one draw of a random count).")
    else:
        sec.md("_No crash run in the run set (`rcap node-stop --mode crash`)._")
    sec.md("**Recovery after a crash**: with every Nuxeo node stopped, list the orphans, then requeue or remove them "
           "with the reviewed script of docs/failover.md (\"Orphaned works after a Nuxeo crash\"). rcap never runs "
           "it on a target it did not start.")
    sec.values.update(orphaned_works_per_crash=c["steady_orphans"], orphaned_bytes_per_crash=c["steady_bytes"])
    return sec
