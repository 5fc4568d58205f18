"""What the notebooks show: the run set a report rests on, and the report's sections.

Each ``*_section(ctx)`` returns a :class:`Section` (Markdown, tables and figures, in order) that a notebook
displays with ``.show()``; the logic lives here, where the tests reach it, so the notebooks stay thin.
``context(target_load, run_dirs, topology)`` loads the target file and the runs once per notebook.
Units: bytes, µs, per second, as in the rest of ``analysis``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from analysis.report import REFERENCE_RUNS, resolve
from rcapcore.errors import RcapError



@dataclass
class RunSet:
    """The recorded runs a report rests on: single runs, sweeps (their runs included in ``runs``)
    and failover results, found under the given directories."""

    runs: list = field(default_factory=list)  # analysis.runs.Run
    sweeps: list = field(default_factory=list)  # analysis.runs.Sweep

    @classmethod
    def discover(cls, paths) -> "RunSet":
        """Load every run and sweep directory at or below ``paths`` (two levels deep at most), through
        :func:`rcapcore.rundata.open_runs` like every command; the sections pick complete runs themselves."""
        from analysis.runs import open_sweeps_and_runs

        _usable, sweeps, every_run, _note = open_sweeps_and_runs([resolve(p) for p in paths], missing_ok=True)
        return cls(runs=every_run, sweeps=sweeps)

    @staticmethod
    def workload(run) -> str | None:
        """The run's workload (``workmanager``, ``kv``, ``pubsub``, ``mass-operation``…), or the
        experiment (``failover``, ``restart``) for a fault experiment."""
        if run.manifest.get("kind") == "experiment":
            return run.manifest.get("experiment")
        sc = run.manifest.get("scenario", {})
        return sc.get("workload") or sc.get("name")

    def of(self, workload: str) -> list:
        """The complete runs of one workload, oldest first."""
        return [r for r in self.runs if self.workload(r) == workload and r.status == "complete"]

    def bench_runs(self) -> list:
        """Complete runs of ``rcap bench``/``rcap sweep`` (fault experiments left out)."""
        return [r for r in self.runs if r.status == "complete" and r.manifest.get("kind") != "experiment"]

    def sweeps_of(self, workload: str) -> list:
        return [s for s in self.sweeps if s.runs and self.workload(s.runs[0]) == workload]

    def inventory(self):
        """One row per run: id, workload, topology, users, rate, duration, status, ops/s, p99."""
        import pandas as pd

        rows = []
        for run in self.runs:
            total = run.summary.get("total", {})
            p = run.params()
            topo = p.get("topology") or next((t.get("kind") for t in run.manifest.get("topologies", [])), None)
            rows.append({"run": run.id, "workload": self.workload(run), "topology": topo,
                         "users": p.get("users"), "rate (ops/s)": p.get("rate"),
                         "duration (s)": p.get("duration_s"), "status": run.status,
                         "ops/s": total.get("ops_per_s"), "p99 (µs)": total.get("p99_us"),
                         # supported: ≥ 10,000 requests in the run (analysis.throughput.P99_MIN_REQUESTS)
                         "p99 supported": _p99_supported(total.get("count")),
                         "loadgen-bound": bool(p.get("loadgen_bound"))})
        return pd.DataFrame(rows)

    def environment(self):
        """Where the measurements came from: host, CPU, RAM, Redis and software versions (one row
        per distinct environment)."""
        import pandas as pd

        rows = []
        for run in self.runs:
            m = run.manifest
            h, sw = m.get("host", {}), m.get("software", {})
            srv = m.get("server") or next((t.get("server") for t in m.get("topologies", []) if t.get("server")), {})
            rows.append({
                "host CPU": h.get("cpu_model"),
                "logical cores": h.get("cpu_logical_cores"),
                "host RAM": _gib(h.get("ram_bytes")),
                "OS": h.get("os"),
                "server": srv.get("server") or (f"redis-{srv['redis_version']}" if srv.get("redis_version") else None),
                "allocator": srv.get("mem_allocator"),
                "persistence": srv.get("persistence"),
                "rcap": sw.get("rcap"),
                "Python / Locust / redis-py": f"{sw.get('python')} / {sw.get('locust')} / {sw.get('redis_py')}",
            })
        df = pd.DataFrame(rows)
        if df.empty:
            return df
        df = df.drop_duplicates(ignore_index=True)
        df.index = [f"environment {i + 1}" for i in range(len(df))]
        return df.T


def _gib(n) -> str | None:
    return None if n is None else f"{n / 2**30:.1f} GiB"


# ---------------------------------------------------------------------------------------------
# Measured series: runs → the DataFrames analysis.plots draws.
# ---------------------------------------------------------------------------------------------

def sweep_points(sweep, op: str = "total"):
    """One row per sweep step: ``users`` (or ``rate``), ``ops_per_s``, ``p50_us``, ``p99_us``, ``loadgen_bound``."""
    df = sweep.frame(op=op)
    if df.empty:
        return df
    df = df.rename(columns={"value": sweep.param})
    cols = [sweep.param, "ops_per_s", "p50_us", "p99_us", "loadgen_bound", "run_id"]
    return df[[c for c in cols if c in df.columns]].sort_values(sweep.param, ignore_index=True)


def backlog_series(run):
    """Per second of a WorkManager run: ``t_s`` (since the load started), ``backlog_works`` (works
    scheduled or running, read on the target: ``workload.jsonl``) and the master's ``used_memory_bytes``
    at that moment (interpolated between the 1 s server samples)."""
    import numpy as np
    import pandas as pd

    wl = run.workload
    cols = ["t_s", "backlog_works", "used_memory_bytes"]
    if wl.empty or "work_backlog" not in wl:
        return pd.DataFrame(columns=cols)
    wl = wl.dropna(subset=["work_backlog"]).sort_values("t")
    srv = run.server
    master = srv[srv["role"] == "master"].sort_values("t") if "used_memory" in srv else srv.iloc[0:0]
    mem = (np.interp(wl["t"], master["t"], master["used_memory"].astype(float)) if len(master)
           else np.full(len(wl), np.nan))
    t0 = run.start_t or float(wl["t"].iloc[0])
    return pd.DataFrame({"t_s": wl["t"].to_numpy() - t0, "backlog_works": wl["work_backlog"].to_numpy(),
                         "used_memory_bytes": mem})[cols].reset_index(drop=True)


def latency_series(run, ops=None, kind: str = "measured"):
    """``t_s``, ``op``, ``p99_us`` per second for ``ops`` (default: the run's three busiest)."""
    lat = run.latency
    lat = lat[lat["kind"] == kind]
    if lat.empty:
        return lat.assign(t_s=[])
    if ops is None:
        ops = lat.groupby("op")["count"].sum().sort_values(ascending=False).index[:3].tolist()
    lat = lat[lat["op"].isin(ops) & lat["p99_us"].notna()]
    t0 = run.start_t or float(lat["t"].min())
    return lat.assign(t_s=lat["t"] - t0)[["t_s", "op", "p99_us"]]


# ---------------------------------------------------------------------------------------------
# Sections: what each notebook displays, in order.
# ---------------------------------------------------------------------------------------------


@dataclass
class Section:
    """One part of a notebook: Markdown paragraphs, tables (DataFrames) and figures, shown in order.

    ``values`` keeps the section's key numbers (with units in their names) for the summary and tests.
    """

    items: list = field(default_factory=list)
    values: dict = field(default_factory=dict)

    def md(self, text: str) -> "Section":
        self.items.append(text)
        return self

    def add(self, item) -> "Section":
        if item is not None:
            self.items.append(item)
        return self

    @property
    def figures(self) -> list:
        from matplotlib.figure import Figure

        return [i for i in self.items if isinstance(i, Figure)]

    @property
    def tables(self) -> list:
        import pandas as pd

        return [i for i in self.items if isinstance(i, pd.DataFrame)]

    def show(self) -> None:
        """Display every item (in a notebook)."""
        from IPython.display import Markdown, display

        for item in self.items:
            display(Markdown(item) if isinstance(item, str) else item)


def notebook_setup() -> None:
    """Figures in the report's style; tables shown whole (no truncated cells, every row)."""
    import pandas as pd

    from analysis import plots

    plots.use_report_style()
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.max_columns", 50)


def table(rows, index: str | None = None):
    """A DataFrame for display: ``rows`` is a list of dicts or a dict of label → value."""
    import pandas as pd

    if isinstance(rows, dict):
        df = pd.DataFrame({"": list(rows.keys()), "value": [_fmt(v) for v in rows.values()]}).set_index("")
        df.index.name = None
        return df
    df = pd.DataFrame(rows)
    return df.set_index(index) if index and index in df else df


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


# ---------------------------------------------------------------------------------------------
# Failover (results written by `rcap failover` into its run directory)
# ---------------------------------------------------------------------------------------------

from rcapcore.rundata import RESULT as FAILOVER_RESULT  # noqa: E402  (written by `rcap failover`)


def experiment_results(runs: RunSet, experiment: str) -> list[tuple]:
    """``[(run, result dict)]`` of every ``experiment`` run (``failover``, ``memory-wall``) in the run set,
    oldest first."""
    out = []
    for run in runs.runs:
        path = run.path / FAILOVER_RESULT
        if run.manifest.get("experiment") == experiment and path.is_file():
            out.append((run, json.loads(path.read_text(encoding="utf-8"))))
    return out


def failover_results(runs: RunSet) -> list[tuple]:
    """``[(run, result dict)]`` for every failover experiment in the run set, oldest first."""
    return experiment_results(runs, "failover")


def node_throughput(run, t0: float | None = None):
    """``t_s`` (since ``t0``, default the run's start), ``node``, ``ops_per_s``: commands per second
    each node served, from the server samples."""
    import pandas as pd

    srv = run.server
    if srv.empty or "commands_per_s" not in srv:
        return pd.DataFrame(columns=["t_s", "node", "ops_per_s"])
    t0 = t0 or run.start_t or float(srv["t"].min())
    return pd.DataFrame({"t_s": srv["t"] - t0, "node": srv["node"], "ops_per_s": srv["commands_per_s"]}).dropna()


# ---------------------------------------------------------------------------------------------
# The notebooks' context and their sections
# ---------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every notebook works on: the target file (parsed), the run set and the topology to size."""

    target_load: Path
    target: object  # analysis.targets.TargetLoad
    runs: RunSet
    topology: str

    @property
    def name(self) -> str:
        return self.target.name

    @cached_property
    def recommendation(self):
        """``analysis.sizing.size`` for the target and topology, on the complete bench runs (the engine
    picks what it measures from them: service demand across sweep steps, memory from backlog growth)."""
        from analysis import sizing

        target = self.target
        if self.topology != target.deployment.topology:
            target = sizing.with_deployment(target, topology=self.topology)
        return sizing.size(target, runs=self.runs.bench_runs() or None)

    @property
    def sizing_values(self) -> dict:
        """Key numbers of the recommendation that several sections draw (bytes, works)."""
        rec = self.recommendation
        mo = rec.mass_operation or {}
        return {"peak_backlog_works": mo.get("peak_backlog"), "maxmemory_bytes": rec.memory["maxmemory_bytes"]}


def context(target_load, run_dirs=(), topology: str | None = None) -> Context:
    """Load the target file and the runs (``run_dirs`` empty: the committed reference runs)."""
    from analysis.targets import load_target

    path = resolve(target_load)
    target = load_target(str(path))
    runs = RunSet.discover([resolve(p) for p in (run_dirs or [REFERENCE_RUNS])])
    return Context(path, target, runs, topology or target.deployment.topology)


def latency_section(ctx: Context) -> Section:
    """p99 per second of the busiest operations, for the mass operation and the heaviest WorkManager run.

    Decoding every per-second histogram of every run is slow (tens of ms each), so only these two runs
    are drawn; every run's whole-run percentiles are in the inventory.
    """
    from analysis import plots

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
    from analysis.compare import server_vs_client

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
                         "client p50 (µs)": _fmt(r["client_p50_us"]), "server p50 (µs)": _fmt(r["server_p50_us"]),
                         "client p99 (µs)": _fmt(r["client_p99_us"]), "server p99 (µs)": _fmt(r["server_p99_us"]),
                         "p99 outside Redis": f"{1 - r['server_p99_us'] / r['client_p99_us']:.0%}",
                         "server figures cover": r["scope"]})
    if not rows:
        return sec.md("_No run in the set recorded Redis's own latencies (`diagnostics.json`, Redis ≥ 7)._")
    sec.add(table(rows))
    sec.values["server_vs_client"] = rows
    return sec


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


def _ms(v) -> str:
    return "—" if v is None else f"{v:,.0f}"


def failover_section(ctx: Context) -> Section:
    """One row per failover experiment: what the clients saw and what the audit found."""
    sec = Section()
    results = failover_results(ctx.runs)
    if not results:
        return sec.md("_No failover experiment in the run set. Record one with "
                      "`rcap failover --topology sentinel` and pass its directory with `--runs`._")
    rows = []
    for run, r in results:
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
    import pandas as pd

    from analysis import plots

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
    import pandas as pd

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
        from analysis.plots import human_bytes

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


# ---------------------------------------------------------------------------------------------
# PubSub fan-out
# ---------------------------------------------------------------------------------------------

DELIVERY_OP = "pubsub delivery"


def _duration_s(run) -> float:
    m = run.manifest
    return float(m.get("elapsed_s") or m.get("parameters", {}).get("duration_s") or 0.0)


def pubsub_points(runs: RunSet):
    """One row per complete ``pubsub`` run: ``subscribers``, ``published_per_s``, ``delivered_per_s``,
    ``lost`` (messages), ``p50_us``, ``p99_us`` (publish → delivery)."""
    import pandas as pd

    rows = []
    for run in runs.of("pubsub"):
        totals = run.counters.get("totals", run.counters)
        secs = _duration_s(run)
        delivery = run.summary.get("ops", {}).get(DELIVERY_OP, {})
        nodes = run.manifest.get("scenario", {}).get("params", {}).get("nodes")
        if not secs or not nodes:
            continue
        published = totals.get("messages_published", 0)
        delivered = totals.get("messages_delivered", 0)
        rows.append({"subscribers": nodes, "published_per_s": published / secs, "delivered_per_s": delivered / secs,
                     "lost": max(published * nodes - delivered, 0), "p50_us": delivery.get("p50_us"),
                     "p99_us": delivery.get("p99_us"), "run_id": run.id})
    return pd.DataFrame(rows, columns=["subscribers", "published_per_s", "delivered_per_s", "lost", "p50_us",
                                       "p99_us", "run_id"])


def pubsub_section(ctx: Context) -> Section:
    """Measured fan-out (deliveries = published × subscribers) and delivery latency."""
    from analysis import plots

    sec = Section()
    pts = pubsub_points(ctx.runs)
    if pts.empty:
        return sec.md("_No complete `pubsub` run in the run set: the fan-out was not measured._")
    fitted = pts[["subscribers"]].assign(delivered_per_s=pts["published_per_s"] * pts["subscribers"])
    sec.add(plots.pubsub_fanout(pts, fitted=fitted))
    shown = pts.assign(**{"published (msg/s)": pts["published_per_s"].round(0),
                          "delivered (msg/s)": pts["delivered_per_s"].round(0),
                          "lost (messages)": pts["lost"], "p50 (µs)": pts["p50_us"], "p99 (µs)": pts["p99_us"]})
    sec.add(shown[["subscribers", "published (msg/s)", "delivered (msg/s)", "lost (messages)", "p50 (µs)",
                   "p99 (µs)"]].set_index("subscribers"))
    sec.values["pubsub_lost"] = int(pts["lost"].sum())
    return sec


# ---------------------------------------------------------------------------------------------
# Throughput and latency against load (sweeps)
# ---------------------------------------------------------------------------------------------

LOAD_LABEL = {"workmanager": "works/s", "mass-operation": "works/s", "pubsub": "msg/s"}
def _p99_supported(count) -> bool:
    from analysis.throughput import p99_supported

    return p99_supported(count)


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
    from analysis import throughput as tp

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
    import numpy as np
    import pandas as pd

    from analysis import plots

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
        ceiling = demand.ceiling_per_s if demand is not None else None
        sec.add(plots.throughput_latency(pts, workload=workload, load_column="load",
                                         load_label=_load_label(sweep, workload), fitted=fitted,
                                         ceiling_ops_per_s=ceiling, slo_us=slo))
    if not sec.items:
        sec.md("_No sweep in the run set: record one with `rcap sweep SCENARIO --rates …` or `--users …`._")
    return sec


def throughput_model_section(ctx: Context, slo_override: float | None = None) -> Section:
    """One row per swept workload: USL coefficients with 95% intervals, ceilings, the knee at the p99 objective."""
    from analysis import throughput as tp

    sec = Section()
    slo = slo_p99_us(ctx, slo_override)
    rows = []
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
        ceiling = {"ops_per_s": demand.ceiling_per_s} if demand is not None else {}
        rows.append({
            "workload": workload,
            "swept": f"{sweep.param} {', '.join(f'{v:g}' for v in pts['load'])}",
            "max measured (ops/s)": _fmt(float(pts["ops_per_s"].max())),
            f"knee at p99 ≤ {slo:,.0f} µs (ops/s)": _fmt(knee) if knee else "no step met it",
            "p99 basis": basis,
            "USL σ (95% CI)": f"{fit.sigma:.3f} ({fit.sigma_ci[0]:.3f}–{fit.sigma_ci[1]:.3f})" if fit else "—",
            "USL κ (95% CI)": f"{fit.kappa:.2e} ({fit.kappa_ci[0]:.1e}–{fit.kappa_ci[1]:.1e})" if fit else "—",
            "USL R²": f"{fit.r2:.3f}" if fit else "—",
            "USL peak (ops/s)": _fmt(fit.peak_throughput) if fit else "—",
            "CPU per request (µs), light load → saturated": (
                f"{demand.busy_us + demand.turn_us:.1f} → {demand.busy_us:.1f}") if demand else "—",
            "ceiling from CPU (requests/s)": _fmt(ceiling.get("ops_per_s")),
            "ceiling method": demand.method if demand else "—",
            "loadgen-bound steps": int(pts["loadgen_bound"].fillna(False).astype(bool).sum())
            if "loadgen_bound" in pts else 0,
        })
    if not rows:
        return sec.md("_No sweep in the run set._")
    sec.add(table(rows, index="workload").T)
    sec.values["throughput"] = rows
    from analysis.servers import IO_THREADS_NOTE

    sec.md(IO_THREADS_NOTE)
    return sec


# ---------------------------------------------------------------------------------------------
# Memory against backlog
# ---------------------------------------------------------------------------------------------

MEMORY_WORKLOADS = ("mass-operation",)  # one work type (reindex buckets): one cost per work


def memory_points(runs: RunSet):
    """Every second of the WorkManager runs that grew a backlog: ``backlog_works``, ``used_memory_bytes``,
    ``payload_bytes`` (the scenario's work type) and ``run_id``. Runs whose backlog never passed 100
    works say little about the cost per work and are left out."""
    import pandas as pd

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
    from analysis.memory import fit_linear

    return fit_linear(points["backlog_works"], points["used_memory_bytes"])


def memory_section(ctx: Context) -> Section:
    """Measured used_memory against backlog, the fit, and its projection to the target's peak backlog."""
    import numpy as np
    import pandas as pd

    from analysis import plots

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


def ctx_value(ctx: Context, key: str):
    """A number the sizing engine computed for the target (``None`` without a target)."""
    return ctx.sizing_values.get(key) if ctx.target is not None else None


# ---------------------------------------------------------------------------------------------
# Model validation
# ---------------------------------------------------------------------------------------------


def memory_wall_results(runs: RunSet) -> list[tuple]:
    """``[(run, result)]`` of the memory-wall experiments (``rcap memory-wall``) in the run set."""
    return experiment_results(runs, "memory-wall")


def _memory_extrapolation_row(ctx: Context) -> dict | None:
    """Calibrate the memory model on the mass operation's first fifth of backlog and predict its largest."""
    from analysis.validation import MEMORY_GOAL, check_memory, memory_observations

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
            "goal_pct": 100 * MEMORY_GOAL, "source": f"mass operation, extrapolated {factor:.1f}×"}


def _backlog_row(ctx: Context) -> dict | None:
    """The backlog model (λ, μ of the recorded mass operation) against the backlog measured at its end."""
    import numpy as np

    got = _measured_mass_operation(ctx)
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
            "source": f"fluid model with the scenario's λ and μ ({run.id[:15]})"}


def _ceiling_row(ctx: Context) -> dict | None:
    """The works/s ceiling model fitted on the light-load WorkManager sweep alone, predicting the saturation
    probe's throughput at the main-thread utilization the probe reached (``analysis.throughput.Ceilings``)."""
    from analysis import throughput as tp
    from analysis.validation import CEILING_GOAL

    runs = [r for s in ctx.runs.sweeps_of("workmanager") + ctx.runs.sweeps_of(tp.PROBE_WORKLOAD)
            for r in s.runs if r.status == "complete"]
    if not runs:
        return None
    try:
        v = tp.ceilings_from_runs(runs).validation()
    except RcapError:
        return None
    if v is None:
        return {"check": "single-shard works/s ceiling", "predicted": None, "measured": None, "error_pct": None,
                "goal_pct": 100 * CEILING_GOAL,
                "source": "no saturation probe (work-lifecycle closed-loop sweep) and light-load sweep in the run set"}
    note = "" if v["saturated"] else (f" — not saturated: the main thread got {v['at_utilization']:.0%} of a core "
                                      "(a shared or small load machine); compared at that utilization")
    return {"check": f"single-shard works/s at {v['at_utilization']:.0%} main thread (saturation probe)",
            "predicted": v["predicted_works_per_s"], "measured": v["measured_works_per_s"],
            "error_pct": 100 * v["error"], "goal_pct": 100 * CEILING_GOAL,
            "source": f"model from the light-load sweep only ({v['predicted_from']}); probe {v['probe_run']}{note}"}


def _ops_ceiling_row(ctx: Context) -> dict | None:
    """The ops/s model fitted on a closed-loop KV sweep's lighter steps, predicting its heaviest step."""
    from analysis import throughput as tp
    from analysis.validation import CEILING_GOAL

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
                "source": f"model from the lighter steps ({m.method}); heaviest step {top.run_id}"}
    return None


def validation_rows(ctx: Context) -> list[dict]:
    """Every prediction checked against a measurement the model was not fitted on:
    ``check``, ``predicted``, ``measured``, ``error_pct`` (signed), ``goal_pct``, ``source``."""
    rows = [r for r in (_memory_extrapolation_row(ctx), _backlog_row(ctx), _ceiling_row(ctx), _ops_ceiling_row(ctx))
            if r is not None]
    from analysis.memory_wall import memory_wall_prediction

    for run, r in memory_wall_results(ctx.runs):
        model = memory_wall_prediction(r, run.manifest)  # computed now, never read from the run
        measured = r.get("backlog_at_wall")
        if model.get("available") and measured:
            rows.append({"check": "memory model: backlog at the OOM wall", "predicted": model["predicted_backlog"],
                         "measured": measured, "error_pct": model["error_pct"], "goal_pct": 3.0,
                         "source": f"memory wall at maxmemory {r['maxmemory_bytes'] / 2**20:.0f} MiB, "
                                   f"{r.get('work_type')} works ({run.id[:15]})"})
        rule = r.get("rule_of_thumb") or {}
        if rule.get("predicted_backlog") and measured:
            rows.append({"check": "spec rule of thumb: backlog at the wall", "predicted": rule["predicted_backlog"],
                         "measured": measured, "error_pct": rule["error_pct"], "goal_pct": None,
                         "source": "1.15 × payload + 275 B per work (traffic spec §1.6)"})
    return rows


def validation_section(ctx: Context) -> Section:
    """The table of prediction errors and a bar chart against each model's goal."""
    import pandas as pd

    from analysis import plots

    sec = Section()
    rows = validation_rows(ctx)
    if not rows:
        return sec.md("_No validation measurement in the run set: predictions in this report carry no "
                      "measured error. Record a memory wall (`rcap memory-wall`) and a saturating sweep._")
    df = pd.DataFrame(rows)
    measured = df[df["error_pct"].notna()]
    if len(measured):
        sec.add(plots.validation_errors(measured.assign(error_pct=measured["error_pct"].astype(float))))
    shown = df.assign(predicted=df["predicted"].map(_fmt), measured=df["measured"].map(_fmt),
                      error=df["error_pct"].map(lambda e: f"{e:+.1f}%" if pd.notna(e) else "—"),
                      goal=df["goal_pct"].map(lambda g: f"±{g:g}%" if pd.notna(g) else "—"))
    sec.add(shown[["check", "predicted", "measured", "error", "goal", "source"]].set_index("check"))
    sec.values["validation"] = rows
    return sec


# ---------------------------------------------------------------------------------------------
# The recommendation: summary, inputs, memory parts, mass operation, risks
# ---------------------------------------------------------------------------------------------

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
    from dataclasses import asdict

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


def memory_breakdown_section(ctx: Context) -> Section:
    """Where the bytes of one pending work go (analytic model) against the measured slope."""
    from analysis import memory as mem
    from analysis import plots
    from analysis.validation import layout_of

    sec = Section()
    runs = ctx.runs.of("mass-operation")
    if not runs:
        return sec.md("_No mass-operation run in the run set._")
    run = runs[-1]
    params = run.manifest.get("scenario", {}).get("params", {})
    from rcapcore.nuxeo.payloads import work_type

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
    from analysis import plots

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


def mass_operation_section(ctx: Context) -> Section:
    """The target's mass operation simulated with the backlog model, against the recommended maxmemory."""
    from analysis import plots
    from analysis.backlog import simulate

    rec = ctx.recommendation
    mo_spec, mo = ctx.target.mass_operation, rec.mass_operation
    sec = Section()
    if mo_spec is None or mo is None:
        return sec.md("_The target file has no mass operation._")
    from analysis.sizing import mass_backlog_input, traffic_of

    nodes = mo_spec.nodes or (ctx.target.business.nodes if ctx.target.business else 1)
    base = rec.memory["dataset_bytes"] - rec.memory["parts"]["mass operation peak"]
    maxmem = rec.memory["maxmemory_bytes"]
    res = simulate(mass_backlog_input(ctx.target, traffic_of(ctx.target), mo["bytes_per_work"], base, maxmem))
    pts = res.points.rename(columns={"backlog": "backlog_works", "memory_bytes": "used_memory_bytes"})
    sec.add(plots.mass_operation_timeline(pts, maxmemory_bytes=maxmem, oom_at_s=res.oom_t_s,
                                          title=f"{mo['name']}: predicted backlog and memory"))
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
        "peak memory": plots.human_bytes(res.peak_memory_bytes),
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


def keys_scans_section(ctx: Context, rec=None) -> Section:
    """Nuxeo's scheduled KEYS (spec Corrections 9): measured scans and spikes, and the forecast for the
    target's keyspace every 15 minutes."""
    from analysis import keyscans

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


def _measured_mass_operation(ctx: Context):
    """The latest complete mass-operation run with the backlog model's prediction for the same λ and μ:
    ``(run, measured, predicted)`` or ``None``. The prediction starts at the run's last empty-backlog
    sample (Locust's users take a moment to start) and uses the analytic bytes per work."""
    import pandas as pd

    from analysis import memory as mem
    from analysis.backlog import BacklogInput, simulate
    from analysis.validation import layout_of
    from rcapcore.nuxeo.payloads import work_type

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
    import numpy as np

    from analysis import plots

    sec = Section()
    got = _measured_mass_operation(ctx)
    if got is None:
        return sec.md("_No mass-operation run in the run set._")
    run, measured, pred = got
    maxmem = (run.manifest.get("server") or {}).get("maxmemory_bytes") or None
    p = run.manifest["scenario"]["params"]
    sec.add(plots.mass_operation_timeline(pred, measured=measured, maxmemory_bytes=maxmem,
                                          title=f"Recorded mass operation: λ = {p['schedule_rate']:g} works/s, "
                                                f"μ = {p['consume_rate']:g} works/s"))
    end = measured.iloc[-1]
    at = lambda col: float(np.interp(end["t_s"], pred["t_s"], pred[col]))  # noqa: E731
    rows = [{"at the end of the run": "backlog (works)", "predicted": f"{at('backlog_works'):,.0f}",
             "measured": f"{end['backlog_works']:,.0f}",
             "error": f"{100 * (at('backlog_works') - end['backlog_works']) / max(end['backlog_works'], 1):+.1f}%"},
            {"at the end of the run": "used_memory", "predicted": plots.human_bytes(at("used_memory_bytes")),
             "measured": plots.human_bytes(end["used_memory_bytes"]),
             "error": f"{100 * (at('used_memory_bytes') - end['used_memory_bytes']) / end['used_memory_bytes']:+.1f}%"}]
    sec.add(table(rows, index="at the end of the run"))
    from rcapcore.nuxeo.queues import LIVE_WAIT_REQUEST

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


def node_stop_section(ctx: Context) -> Section:
    """The "A Nuxeo node stops" section: graceful vs crash, the orphans a crash leaves at the target's rates
    (Little's law, :mod:`analysis.nodestop`), the ``rcap node-stop`` measurements and the recovery procedure."""
    from analysis import nodestop
    from analysis.plots import human_bytes

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
