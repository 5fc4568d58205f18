"""The recommendation: summary, inputs, scheduled KEYS, risks, and the environment the runs come from."""

from __future__ import annotations

from dataclasses import asdict

from analysis import keyscans
from analysis.report.failover import failover_results
from analysis.report.memory import memory_points
from analysis.report.runset import Context, ctx_value
from analysis.report.section import Section, table

GIB = 2**30


def recommendation(ctx: Context):
    """The sizing engine's :class:`analysis.sizing.Recommendation` for this context."""
    return ctx.recommendation


def _gib2(n) -> str:
    return "—" if n is None else f"{n / GIB:.2f} GiB"


def _vcpu_line(rec) -> str:
    c = rec.cpu
    return (f"2 per data node: the Redis main thread needs {c['utilization_peak']:.0%} of one core at peak "
            f"(limit {c['max_utilization']:.0%}); the second core serves forks (snapshots, replica syncs), "
            "I/O and the OS. More cores do not raise one shard's ceiling.")


def summary_rows(rec) -> dict:
    """The recommendation as label → value (the report's first table and the PDF's first page)."""
    m, t, c, d = rec.memory, rec.topology, rec.cpu, rec.disk
    nodes = t.get("data_nodes") or t.get("nodes")
    extra = f" + {t['sentinels']} Sentinels (quorum {t['quorum']})" if t.get("sentinels") else ""
    by_provider: dict[str, list[str]] = {}
    for inst in rec.instances:
        usable = inst.get("usable_memory_gib")
        by_provider.setdefault(inst["provider"].upper(), []).append(
            f"{inst['name']} ({inst['service']}, {inst['memory_gib']:g} GiB"
            + (f", {usable:.2f} usable" if usable and usable != inst["memory_gib"] else "") + ")")
    rows = {
        "Recommended topology": t["summary"],
        "Node count": f"{nodes} Redis data node(s){extra}",
        "RAM per data node": _gib2(m["node_ram_bytes"]),
        "vCPU": _vcpu_line(rec),
        "maxmemory": f"{_gib2(m['maxmemory_bytes'])}, policy noeviction (Nuxeo cannot run with eviction)",
        "Persistence": f"{d['persistence']}: {d['rule']}" + (f", disk {_gib2(d['bytes'])}" if d["bytes"] else ""),
        "Network": f"{rec.network['link_gbps']:.2f} Gbit/s planned "
                   f"({rec.network['out_bytes_per_s'] / 1e6:.1f} MB/s out at peak)",
        "Main thread": f"{c['utilization_steady']:.0%} steady, {c['utilization_peak']:.0%} at peak "
                       f"({c['cpu_us_per_work']:,.0f} µs of CPU per work at the target's load); one shard's ceiling "
                       f"{c['ceiling_works_per_s']:,.0f} works/s or {c['ceiling_ops_per_s']:,.0f} ops/s "
                       f"(op = one client request)",
    }
    for provider, names in by_provider.items():
        rows[f"Instance types ({provider})"] = "; ".join(names)
    return rows


def summary_section(ctx: Context, rec=None) -> Section:
    """A paragraph stating the recommendation, then the recommendation table."""
    rec = rec or ctx.recommendation
    m, t = rec.memory, rec.topology
    mo = rec.mass_operation
    target = ctx.target
    text = (f"**For {target.name}** ({target.description or target.level + '-level target'}), run Redis as "
            f"**{t['summary']}**, each data node with **{_gib2(m['node_ram_bytes'])} of RAM** and **2 vCPU**, "
            f"`maxmemory` **{_gib2(m['maxmemory_bytes'])}** with `noeviction`, persistence "
            f"**{rec.disk['persistence']}**.")
    if mo:
        drain = (f"drains {mo['time_to_drain_s'] / 60:,.0f} min after its peak" if mo.get("time_to_drain_s")
                 else "does not drain within the horizon")
        text += (f" The {mo['name']} peaks at **{mo['peak_backlog']:,.0f} pending works** "
                 f"({_gib2(mo['peak_bytes'])}) and {drain}"
                 + (f"; it reaches maxmemory at t = {mo['oom_t_s']:,.0f} s." if mo.get("oom_t_s") is not None
                    else "; it stays below maxmemory."))
    if rec.flags:
        text += f" **{len(rec.flags)} risk(s) flagged** (see *Risks*)."
    sec = Section().md(text)
    sec.add(table(summary_rows(rec)).rename(columns={"value": "recommendation"}))
    sec.values["summary"] = summary_rows(rec)
    if rec.sensitivity:
        rows = [{"what if": "as given", "maxmemory": _gib2(m["maxmemory_bytes"]), "RAM per data node":
                 _gib2(m["node_ram_bytes"]), "main thread at peak": f"{rec.cpu['utilization_peak']:.0%}",
                 "network": f"{rec.network['link_gbps']:.2f} Gbit/s"}]
        rows += [{"what if": k, "maxmemory": _gib2(v["maxmemory_bytes"]), "RAM per data node": _gib2(v["node_ram_bytes"]),
                  "main thread at peak": f"{v['utilization_peak']:.0%}", "network": f"{v['link_gbps']:.2f} Gbit/s"}
                 for k, v in rec.sensitivity.items()]
        sec.md("**Sensitivity**: the same sizing with the steady load changed (the mass operation unchanged).")
        sec.add(table(rows, index="what if"))
    return sec


def inputs_section(ctx: Context, rec=None) -> Section:
    """The target file's inputs, the Redis traffic they mean, and the assumptions of the sizing."""
    rec = rec or ctx.recommendation
    t = ctx.target
    sec = Section()
    given = {}
    for part in ("business", "redis", "mass_operation", "deployment"):
        obj = getattr(t, part)
        if obj is not None:
            given.update({f"{part}.{k}": v for k, v in asdict(obj).items() if v not in (None, (), [])})
    sec.md(f"**Target file** `{ctx.target_load.name}` ({t.level} level):")
    sec.add(table(given).rename(columns={"value": "given"}))
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
    sec.md("**Assumptions**\n\n" + "\n".join(f"- {a}" for a in rec.assumptions)
           + f"\n- p99 objective: {t.deployment.latency_slo_p99_us:,.0f} µs; headroom {t.deployment.headroom:.0%} of maxmemory")
    return sec


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


def risks_section(ctx: Context, rec=None) -> Section:
    """The sizing engine's flags plus what the measurements themselves warn about."""
    rec = rec or ctx.recommendation
    lines = [f"- {f}" for f in rec.flags]
    for _, r in failover_results(ctx.runs):
        if (r.get("acked_lost") or 0) > 0:
            lines.append(f"- A {r.get('fault')} failover lost {r['acked_lost']:,} acknowledged works "
                         f"(of {r.get('acked', 0):,}): jobs can be lost on failover; see *HA and failover*.")
            break
    else:
        lines.append("- Failover can lose acknowledged works (asynchronous replication), even when the "
                     "recorded experiments lost none; see *HA and failover*.")
    pts = memory_points(ctx.runs)
    peak = ctx_value(ctx, "peak_backlog_works")
    if len(pts) and peak:
        factor = peak / max(float(pts["backlog_works"].max()), 1.0)
        if factor > 10:
            lines.append(f"- The memory projection extrapolates {factor:,.0f}× beyond the largest measured "
                         "backlog: it rests on the analytic model (validated below at the OOM wall), not on a "
                         "measurement at that scale.")
    bound = [r.id for r in ctx.runs.bench_runs() if r.manifest.get("loadgen_bound")]
    if bound:
        lines.append(f"- {len(bound)} run(s) were limited by the load generator's CPU: measured throughputs are "
                     "lower bounds.")
    lines.append("- The measurements come from a lab machine (see *Environment*): production CPU speed and network "
                 "latency change absolute throughput and latency; re-run `rcap suite --target URL` against a "
                 "production-like Redis before committing to a size.")
    lines.append("- Nuxeo fails scheduling with OOM errors once maxmemory is reached; monitor `used_memory` against "
                 "`maxmemory` and alert at 80%.")
    return Section().md("\n".join(lines))


def environment_section(ctx: Context) -> Section:
    """Where the runs were recorded, and whether the load generator limited them."""
    env = ctx.runs.environment()
    inv = ctx.runs.inventory()
    sec = Section()
    bound = int(inv["loadgen-bound"].sum()) if len(inv) else 0
    cores = sorted({str(v) for v in env.loc["logical cores"]}) if len(env) else []
    shas = sorted({str((r.manifest.get("software") or {}).get("rcap_git_sha") or "?")[:12] for r in ctx.runs.runs})
    topologies = sorted({str(t) for t in inv["topology"].dropna()}) if len(inv) else []
    text = [f"The {len(inv)} runs were recorded on {env.shape[1] if len(env) else 0} distinct environment(s)"
            + (f" with {', '.join(cores)} logical cores" if cores else "")
            + (f", on {', '.join(topologies)} targets" if topologies else "")
            + f", by rcap commit(s) {', '.join(shas)}."]
    if bound:
        text.append(f"**{bound} run(s) were load-generator bound** (its CPU above 90%): their throughput "
                    "is a lower bound of what Redis can serve.")
    text.append("Production numbers differ: Redis's single main thread runs at the speed of one production "
                "core, and the network between Nuxeo and Redis adds its round-trip time to every operation "
                "(loopback here). Memory per object carries over for the same Redis version and allocator.")
    sec.md(" ".join(text))
    sec.add(env)
    sec.values["loadgen_bound_runs"] = bound
    return sec
