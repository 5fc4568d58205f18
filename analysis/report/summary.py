"""The recommendation: summary, inputs, scheduled KEYS, risks, and the environment the runs come from."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from importlib import metadata

from analysis import keyscans
from analysis.plots import human_bytes
from analysis.report.failover import failover_results
from analysis.report.memory import maxmemory_section, memory_points
from analysis.report.runset import Context, ctx_value
from analysis.report.section import Section, fmt, plural, table, target_label
from analysis.report.validation import validation_rows
from rcapcore.errors import RcapError
from rcapcore.validate import load_yaml

DISTRIBUTION = "rcap-nuxeo-redis"


def recommendation(ctx: Context):
    """The sizing engine's :class:`analysis.sizing.Recommendation` for this context."""
    return ctx.recommendation


def _size(n) -> str:
    """Bytes as the memory table writes them (one spelling per quantity)."""
    return "—" if n is None else human_bytes(n)


def rcap_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def title_section(ctx: Context, today: date | None = None) -> Section:
    """The report's title block: what is sized, when, by which rcap, from how many runs."""
    t = ctx.target
    day = (today or date.today()).isoformat()
    n = len(ctx.runs.runs)
    return Section().md(
        f"### {target_label(t)}\n\n"
        f"**Target** `{t.name}` (file `{ctx.target_load.name}`) · **date** {day} · **rcap** {rcap_version()} · "
        f"**measurements** {plural(n, 'recorded run')} (listed in *Appendix A*)")


def _vcpu_line(rec) -> str:
    c = rec.cpu
    return (f"2 per data node: the Redis main thread needs {c['utilization_peak']:.0%} of one core at peak "
            f"(limit {c['max_utilization']:.0%}); the second core serves forks (snapshots, replica syncs), "
            "I/O and the OS. More cores do not raise one shard's ceiling.")


def ceilings_text(rec) -> str:
    """One ceiling per unit, the definition of "op" given once."""
    c = rec.cpu
    return (f"{c['ceiling_works_per_s']:,.0f} works/s (WorkManager lifecycles) or {c['ceiling_ops_per_s']:,.0f} ops/s "
            "(op = one client request: one command or one script call)")


PERSISTENCE_NAMES = {"aof": "AOF, fsync every second", "rdb": "RDB snapshots", "none": "none"}


def summary_rows(rec) -> dict:
    """The recommendation as label → value (the report's first table and the PDF's first page)."""
    m, t, c, d = rec.memory, rec.topology, rec.cpu, rec.disk
    nodes = t.get("data_nodes") or t.get("nodes")
    extra = (f" + {plural(t['sentinels'], 'Sentinel')} (quorum {t['quorum']})" if t.get("sentinels") else "")
    by_provider: dict[str, list[str]] = {}
    for inst in rec.instances:
        usable = inst.get("usable_memory_gib")
        by_provider.setdefault(inst["provider"].upper(), []).append(
            f"{inst['name']} ({inst['service']}, {inst['memory_gib']:g} GiB"
            + (f", {usable:.2f} usable" if usable and usable != inst["memory_gib"] else "") + ")")
    rows = {
        "Recommended topology": t["summary"],
        "Node count": f"{plural(nodes, 'Redis data node')}{extra}",
        "RAM per data node": _size(m["node_ram_bytes"]),
        "vCPU": _vcpu_line(rec),
        "maxmemory": f"{_size(m['maxmemory_bytes'])}, policy noeviction (Nuxeo cannot run with eviction)",
        "used_memory at the peak": f"{_size(m['dataset_bytes'])} ({m['dataset_bytes'] / m['maxmemory_bytes']:.0%} of "
                                   "maxmemory; parts in the memory table below)",
        "Persistence": (PERSISTENCE_NAMES.get(d["persistence"], d["persistence"]) + f": disk {_size(d['bytes'])} per "
                        f"data node ({d['rule']}); why: see HA and failover" if d["bytes"] else
                        "none: a restart of every node loses every pending work (see HA and failover)"),
        "Network": f"{rec.network['link_gbps']:.2f} Gbit/s planned "
                   f"({rec.network['out_bytes_per_s'] / 1e6:.1f} MB/s out at peak)",
        "Main thread": f"{c['utilization_steady']:.0%} steady, {c['utilization_peak']:.0%} at peak "
                       f"({c['cpu_us_per_work']:,.0f} µs of CPU per work at the target's load)",
        "One shard's ceiling": ceilings_text(rec),
    }
    for provider, names in by_provider.items():
        rows[f"Instance types ({provider})"] = "; ".join(names)
    return rows


def summary_section(ctx: Context, rec=None) -> Section:
    """A paragraph stating the recommendation, the recommendation table and the memory breakdown."""
    rec = rec or ctx.recommendation
    m, t = rec.memory, rec.topology
    mo = rec.mass_operation
    target = ctx.target
    n_risks = len(risk_lines(ctx, rec))
    text = (f"**For {target_label(target)}**"
            + (f" (target '{target.name}')" if (target.description or "").strip() else "")
            + f", run Redis as **{t['summary']}**, each data node with **{_size(m['node_ram_bytes'])} of RAM** and "
            f"**2 vCPU**, `maxmemory` **{_size(m['maxmemory_bytes'])}** with `noeviction`, persistence "
            f"**{PERSISTENCE_NAMES.get(rec.disk['persistence'], rec.disk['persistence'])}**. At the peak Redis holds **{_size(m['dataset_bytes'])}** "
            f"({m['dataset_bytes'] / m['maxmemory_bytes']:.0%} of maxmemory).")
    if mo:
        drain = (f"drains {mo['time_to_drain_s'] / 60:,.0f} min after its peak" if mo.get("time_to_drain_s")
                 else "does not drain within the horizon")
        live = (f" with {mo['peak_bytes_live_works']:,.0f} live indexing works queued behind them"
                if mo.get("peak_bytes_live_works") else "")
        text += (f" The {mo['name']} peaks at **{mo['peak_backlog']:,.0f} pending works**{live}; that queue holds "
                 f"{_size(m['parts']['mass operation peak'])} at the memory peak, and the operation {drain}"
                 + (f"; it reaches maxmemory at t = {mo['oom_t_s']:,.0f} s." if mo.get("oom_t_s") is not None
                    else "; it stays below maxmemory."))
    if n_risks:
        text += f" **{plural(n_risks, 'risk')} listed** under *Risks*."
    sec = Section().md(text)
    sec.add(table(summary_rows(rec)).rename(columns={"value": "recommendation"}))
    sec.values["summary"] = summary_rows(rec)
    sec.values["risk_count"] = n_risks
    mem_table = maxmemory_section(ctx, rec)
    sec.items += mem_table.items
    sec.values.update(mem_table.values)
    return sec


def _given_keys(path) -> set[str]:
    """``part.key`` names the target file sets itself (the rest are defaults)."""
    try:
        raw = load_yaml(path, "target file") or {}
    except (RcapError, OSError):
        return set()
    return {f"{part}.{k}" for part, body in raw.items() if isinstance(body, dict) for k in body}


def inputs_section(ctx: Context, rec=None) -> Section:
    """The target file's inputs, the Redis traffic they mean, and the assumptions of the sizing."""
    rec = rec or ctx.recommendation
    t = ctx.target
    sec = Section()
    given = {}
    set_here = _given_keys(ctx.target_load)
    for part in ("business", "redis", "mass_operation", "deployment"):
        obj = getattr(t, part)
        if obj is not None:
            for k, v in asdict(obj).items():
                if v in (None, (), [], ""):
                    continue
                name = f"{part}.{k}"
                given[name] = fmt(v) if name in set_here or not set_here else f"{fmt(v)} (default)"
    sec.md(f"**Target file** `{ctx.target_load.name}` ({t.level} level); values marked *(default)* are not in the "
           "file:")
    sec.add(table(given).rename(columns={"value": "value"}))
    tr = rec.traffic
    derived = {
        "Nuxeo version modelled": tr.get("nuxeo_version") or "none (Redis-level target: rates as given)",
        "works scheduled per second (steady)": f"{tr['works_per_s']:,.1f} works/s",
        "WorkManager EVALSHA per work": f"{tr.get('evalsha_per_work', 4):.2f} (4 per lifecycle + worker re-polls)",
        "Redis round trips per second (steady)": f"{tr['ops_per_s']:,.0f} ops/s",
        "mean work payload": f"{tr['mean_payload_bytes']:,.0f} B",
        "pending works in steady state": f"{tr['steady_pending_works']:,.0f}",
        "PubSub messages published / delivered": f"{tr['publishes_per_s']:,.0f} / {tr['pubsub_deliveries_per_s']:,.0f} msg/s",
        "PubSub subscribers (Nuxeo nodes)": tr["subscribers"],
        "long-lived KV keys": f"{tr['kv_keys']:,} of {tr['kv_value_bytes']} B" + (" with TTL" if tr["kv_ttl"] else ""),
        "client connections": tr["clients"],
    }
    sec.md("**What Redis sees** (derived with the Nuxeo traffic model):")
    sec.add(table(derived).rename(columns={"value": "derived"}))
    sec.md("**Assumptions**\n\n" + "\n".join(f"- {_assumption(ctx, a)}" for a in rec.assumptions)
           + f"\n- p99 objective: {t.deployment.latency_slo_p99_us:,.0f} µs; headroom {t.deployment.headroom:.0%} of maxmemory")
    return sec


def _assumption(ctx: Context, text: str) -> str:
    """An assumption as the report shows it: run ids are replaced by the appendix's short names."""
    if text.startswith("parameters: measured: "):
        ids = [i.strip() for i in text[len("parameters: measured: "):].split(",")]
        return f"parameters measured on {plural(len(ids), 'run')} ({ctx.runs.labels(ids)}, Appendix A)"
    return text


def keys_scans_section(ctx: Context, rec=None) -> Section:
    """Nuxeo's scheduled KEYS (spec Corrections 9): measured scans and spikes, and the forecast for the
    target's keyspace every 15 minutes."""
    rec = rec or ctx.recommendation
    sec = Section()
    ks = rec.keys_scans
    if not ks:
        return sec.md("_Redis-level target: no Nuxeo node runs the scheduled KEYS._")
    rows = {
        "KV keyspace of the target": f"{ks['keys']:,.0f} keys",
        "blocking time of one KEYS": f"{ks['blocking_us'] / 1000:,.2f} ms ({ks['source']})",
        "KEYS every 15 min (all nodes)": f"{ks['scans_per_period']} (2 per transient store + 1 bulk status listing, "
                                         "per node)",
        "expected spike every 15 min": f"commands arriving during a scan wait up to {ks['blocking_us'] / 1000:,.2f} ms; "
                                       f"Redis is blocked {ks['blocked_ms_per_period']:,.0f} ms per period",
        "keyspace at which a scan crosses the p99 SLO": (f"{ks['keys_at_slo']:,.0f} keys (SLO {ks['slo_us']:,.0f} µs)"
                                                         if ks["keys_at_slo"] else "always above it"),
    }
    sec.add(table(rows))
    measured = []
    for run in ctx.runs.runs:
        sp = keyscans.spike(run)
        if sp:
            measured.append({"run": run.id, "scans": sp["scans"], "worst KEYS (µs)": round(sp["scan_us"]),
                             "others' worst during scans (µs)": round(sp["max_us"]),
                             "others' p99 otherwise (µs)": round(sp["baseline_p99_us"])})
    if measured:
        sec.md("Measured in the runs (scans on the run's own prefix, whole keyspace walked):")
        sec.add(table(measured, index="run"))
    return sec


def risk_lines(ctx: Context, rec=None) -> list[str]:
    """Every risk the report lists: the sizing engine's flags plus what the measurements warn about.
    The summary counts these, the *Risks* section shows these."""
    return ctx.once("risk_lines", lambda: _risk_lines(ctx, rec or ctx.recommendation))


def _risk_lines(ctx: Context, rec) -> list[str]:
    rows = validation_rows(ctx)
    lines = list(rec.flags)
    for _, r in failover_results(ctx.runs):
        if (r.get("acked_lost") or 0) > 0:
            lines.append(f"A {r.get('fault')} failover lost {r['acked_lost']:,} acknowledged works "
                         f"(of {r.get('acked', 0):,}): jobs can be lost on failover; see *HA and failover*.")
            break
    else:
        lines.append("Failover can lose acknowledged works (asynchronous replication), even when the "
                     "recorded experiments lost none; see *HA and failover*.")
    pts = memory_points(ctx.runs)
    peak = ctx_value(ctx, "peak_backlog_works")
    if len(pts) and peak:
        factor = peak / max(float(pts["backlog_works"].max()), 1.0)
        if factor > 10:
            lines.append(f"The memory projection extrapolates {factor:,.0f}× beyond the largest measured backlog: "
                         f"it rests on the analytic memory model, {_memory_validation_text(rows)}, not on a "
                         "measurement at that scale.")
    missed = [r for r in rows if r.get("error_pct") is not None and r.get("goal_pct") is not None
              and abs(r["error_pct"]) > r["goal_pct"]]
    if missed:
        lines.append("Model validation missed its goal for " + "; ".join(
            f"{r['check']} ({r['error_pct']:+.1f}% against ±{r['goal_pct']:g}%)" for r in missed)
            + ": the predictions these models make carry at least that error (see *Model validation*).")
    bound = [r.id for r in ctx.runs.bench_runs() if r.manifest.get("loadgen_bound")]
    if bound:
        lines.append(f"{plural(len(bound), 'run was', 'runs were')} limited by the load generator's CPU: measured "
                     "throughputs are lower bounds.")
    lines.append("The measurements come from a lab machine (see *Appendix A*): production CPU speed and network "
                 "latency change absolute throughput and latency; re-run `rcap suite --target URL` against a "
                 "production-like Redis before committing to a size.")
    lines.append("Nuxeo fails scheduling with OOM errors once maxmemory is reached: monitor `used_memory` against "
                 "`maxmemory` (alert thresholds in the *Go-live checklist*).")
    return lines


def _memory_validation_text(validation: list[dict]) -> str:
    """"validated within its ±3 % goal (…)" or "which missed its ±3 % goal (…)" from the validation rows."""
    rows = [r for r in validation if r["check"].startswith("memory model") and r.get("error_pct") is not None]
    if not rows:
        return "not validated on these runs"
    worst = max(rows, key=lambda r: abs(r["error_pct"]))
    goal = worst.get("goal_pct")
    if goal is not None and abs(worst["error_pct"]) > goal:
        return f"which missed its ±{goal:g}% goal ({worst['error_pct']:+.1f}% on {worst['check'][len('memory model: '):]})"
    return (f"validated within its ±{goal:g}% goal (worst {worst['error_pct']:+.1f}% over "
            f"{plural(len(rows), 'check')})")


def risks_section(ctx: Context, rec=None) -> Section:
    """The risks, one bullet each (the summary's count is their number)."""
    lines = risk_lines(ctx, rec)
    sec = Section().md("\n".join(f"- {line}" for line in lines))
    sec.values["risk_count"] = len(lines)
    return sec


def environment_section(ctx: Context) -> Section:
    """Appendix A: where the runs were recorded, whether the load generator limited them, and every run
    with the short name the report uses for it."""
    env = ctx.runs.environment()
    inv = ctx.runs.inventory()
    sec = Section()
    bound = int(inv["loadgen-bound"].sum()) if len(inv) else 0
    cores = sorted({str(v) for v in env.loc["logical cores"]}) if len(env) else []
    shas = sorted({str((r.manifest.get("software") or {}).get("rcap_git_sha") or "?")[:12] for r in ctx.runs.runs})
    topologies = sorted({str(t) for t in inv["topology"].dropna()}) if len(inv) else []
    n_env = env.shape[1] if len(env) else 0
    text = [f"The {plural(len(inv), 'run')} were recorded on {plural(n_env, 'distinct environment')}"
            + (f" with {', '.join(cores)} logical cores" if cores else "")
            + (f", on {', '.join(topologies)} targets" if topologies else "")
            + f", by rcap {'commit' if len(shas) == 1 else 'commits'} {', '.join(shas)}."]
    if bound:
        text.append(f"**{plural(bound, 'run was', 'runs were')} load-generator bound** (its CPU above 90%): their "
                    "throughput is a lower bound of what Redis can serve.")
    text.append("Production numbers differ: Redis's single main thread runs at the speed of one production "
                "core, and the network between Nuxeo and Redis adds its round-trip time to every operation "
                "(loopback here). Memory per object carries over for the same Redis version and allocator.")
    sec.md(" ".join(text))
    sec.add(env)
    if len(inv):
        shown = inv[["label", "run", "workload", "topology", "status", "ops/s", "p99 (µs)"]].copy()
        shown["ops/s"] = shown["ops/s"].map(fmt)
        shown["p99 (µs)"] = shown["p99 (µs)"].map(fmt)
        sec.md("**Runs** (the short names used in this report):")
        sec.add(shown.set_index("label"))
    sec.values["loadgen_bound_runs"] = bound
    return sec


GLOSSARY = {
    "backlog": "works scheduled but not yet finished: they wait in Redis and take its memory.",
    "λ / μ": "arrival (scheduling) rate and service (consumption) rate of works, in works/s; a backlog grows "
             "while λ > μ.",
    "fluid model": "the backlog model: the backlog changes at λ − μ per second (no randomness), which is exact "
                   "for mass operations of thousands of works.",
    "op": "one client request: one command or one script call (one round trip).",
    "ceiling": "the throughput at which Redis's main thread is 100 % busy; plan below it.",
    "knee": "the throughput above which p99 latency crosses the objective.",
    "USL σ / κ": "Universal Scalability Law: σ is contention (serialized share), κ is coherency (crosstalk) "
                 "cost; together they give where throughput stops growing with concurrency.",
    "loadgen-bound": "a run whose load generator used more than 90 % of its CPU: its throughput is a lower "
                     "bound of what Redis serves.",
    "p99 supported": "a percentile read from at least 10,000 requests; fewer give an indicative value only.",
    "maxmemory / noeviction": "Redis's memory limit and the policy that refuses writes (OOM) at the limit "
                              "instead of deleting keys; Nuxeo needs noeviction.",
    "down-after-milliseconds": "how long Sentinel waits without a reply before it declares the master down.",
}


def glossary_section() -> Section:
    """Terms the report uses, one line each."""
    return Section().md("\n".join(f"- **{k}**: {v}" for k, v in GLOSSARY.items()))
