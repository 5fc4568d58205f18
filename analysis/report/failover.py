"""HA and failover: the ``rcap failover`` experiments (what clients saw, what the audit found, each node's
throughput around the fault), the loss window, and a Nuxeo node that stops (``rcap node-stop``)."""

from __future__ import annotations

import pandas as pd

from analysis import nodestop, plots
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
    if not sec.items:
        sec.md("_No failover experiment in the run set._")
    return sec


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


def failover_notes_section(ctx: Context) -> Section:
    """What the experiments mean for Nuxeo: the loss window, the outage Nuxeo sees, the mitigations."""
    sec = Section()
    results = [r for _, r in failover_results(ctx.runs)]
    lines = []
    if results:
        worst = max(results, key=lambda r: r.get("acked_lost") or 0)
        acked, lost = worst.get("acked") or 0, worst.get("acked_lost") or 0
        between = worst.get("lost_acked_between_s")
        unavail = [r["unavailability_ms"] for r in results if r.get("unavailability_ms") is not None]
        promo = [r["promotion_ms"] for r in results if r.get("promotion_ms") is not None]
        if promo:
            lines.append(f"- **Promotion** took {min(promo):,.0f}–{max(promo):,.0f} ms after the fault with "
                         f"`down-after-milliseconds` = {worst.get('down_after_ms')} ms. Production Sentinel "
                         "defaults to 30 000 ms: expect about 30 s more.")
        if unavail:
            lines.append(f"- **The clients could not write for {min(unavail):,.0f}–{max(unavail):,.0f} ms.** "
                         "Nuxeo's Redis client retries after 2, 4, 8… s, so a Nuxeo node resumes after "
                         f"{_ms(worst.get('nuxeo_retry_unavailability_ms'))} ms in the worst experiment; "
                         "scheduling calls block meanwhile.")
        if lost:
            window = (f", all acknowledged between {between[0]:.1f} s and {between[1]:.1f} s of the load"
                      if between else "")
            lines.append(f"- **Jobs were lost: {lost:,} of {acked:,} acknowledged schedules ({100 * lost / acked:.2f}%)"
                         f"{window}.** Redis replicates asynchronously: a work acknowledged by the master but "
                         "not yet copied to the replica that gets promoted is gone, and Nuxeo is not told. "
                         "The loss window runs from the last write the replica received to the moment clients "
                         "stop writing to the old master (the fault for a crash; up to the partition's end "
                         "for a partition without `min-replicas-to-write`).")
            start, end, promo_ms = worst.get("fault_start_s"), worst.get("fault_end_s"), worst.get("promotion_ms")
            if (worst.get("fault") == "kill" and worst.get("persistence") == "none" and None not in (start, end, promo_ms)
                    and end - start < promo_ms / 1000):
                lines.append(f"- Here the killed master came back {end - start:.1f} s after the fault, **before** "
                             f"Sentinel promoted a replica ({promo_ms / 1000:.1f} s), and without persistence it "
                             "restarted empty: what it acknowledged in between, and what its replicas copied from it, "
                             "can be lost. Redis's documentation warns against auto-restarting a master without "
                             "persistence; give it persistence, or keep a crashed master down longer than "
                             "`down-after-milliseconds` plus the election.")
        else:
            lines.append(f"- No acknowledged schedule was lost in the worst experiment ({acked:,} audited): "
                         "the replica was up to date when the master failed. This is not a guarantee — "
                         "replication is asynchronous and a busier master has a longer lag.")
        if any((r.get("duplicates") or 0) > 0 for r in results):
            lines.append("- Some works ran twice: works must be idempotent (Nuxeo's are designed to be).")
    else:
        lines.append("- No failover experiment was recorded for this report; the notes below are general.")
    lag = replication_lag_window(ctx.runs)
    if lag:
        lines.append(f"- **Loss window in steady state**: the replicas trailed the master by up to "
                     f"{human_bytes(lag['lag_bytes'])} during the benchmarks, about {lag['window_ms']:,.0f} ms of "
                     f"writes at the {human_bytes(lag['write_bytes_per_s'])}/s measured then (Redis reports the "
                     "lag from the replicas' once-a-second acknowledgements, so this is an upper bound). Works "
                     "acknowledged in that window before a master crash exist only on the master.")
    lines += [
        "- **Mitigations**: three Sentinels on separate failure domains (a majority is needed to fail over); "
        "`min-replicas-to-write 1` with `min-replicas-max-lag 10` so a partitioned master stops accepting "
        "works after 10 s; persistence (AOF `everysec`) so a restart without failover loses at most ~1 s; "
        "and a way to re-schedule lost works (Nuxeo can re-run a reindex or a bulk action).",
    ]
    return sec.md("\n".join(lines))


def node_stop_section(ctx: Context) -> Section:
    """The "A Nuxeo node stops" section: graceful vs crash, the orphans a crash leaves at the target's rates
    (Little's law, :mod:`analysis.nodestop`), the ``rcap node-stop`` measurements and the recovery procedure."""
    rep = nodestop.report(ctx.target, [r for _, r in experiment_results(ctx.runs, "node-stop")])
    c, g, k, v = rep["crash"], rep["graceful"], rep["crashed"], rep["validation"]
    sec = Section().md(
        "**Graceful stop.** Nuxeo's `shutdownAndSuspend` deactivates the queues, puts every running work back with "
        "`cancelled-running-work` (counted as *canceled*) and stops the threads: nothing is lost; a work whose "
        "side effects were already done runs again on another node."
        + (f" Measured (`rcap node-stop --mode graceful`, {g['runs']} run(s)): median {g['rescheduled']:g} works "
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
        sec.md(f"Measured (`rcap node-stop --mode crash`, {k['runs']} run(s)): median {k['orphaned']:g} orphaned works holding "
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
