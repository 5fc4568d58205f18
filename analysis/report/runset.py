"""The run set a report rests on, and the context every notebook works on.

:class:`RunSet` finds the recorded runs, sweeps and experiment results under the given directories;
:func:`context` loads the target file and the runs once per notebook into a :class:`Context`, whose
``recommendation`` is the sizing engine's answer for that target and topology.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from analysis import sizing
from analysis.report.build import REFERENCE_RUNS, resolve
from analysis.runs import open_sweeps_and_runs
from analysis.targets import load_target
from analysis.targets import resolve as resolve_target
from analysis.throughput import p99_supported
from rcapcore.rundata import RESULT



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

    def label(self, run_or_id) -> str:
        """The run's short name in the report ("R3"); the appendix maps each to its run id."""
        rid = getattr(run_or_id, "id", run_or_id)
        ids = sorted({r.id for r in self.runs})
        return f"R{ids.index(rid) + 1}" if rid in ids else str(rid)

    def labels(self, runs) -> str:
        """``"R1, R4–R6"``-style list of the runs' short names."""
        nums = sorted({int(self.label(r)[1:]) for r in runs if self.label(r).startswith("R")})
        out, i = [], 0
        while i < len(nums):
            j = i
            while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
                j += 1
            out.append(f"R{nums[i]}" if i == j else f"R{nums[i]}–R{nums[j]}")
            i = j + 1
        return ", ".join(out)

    def inventory(self):
        """One row per run: label, id, workload, topology, users, rate, duration, status, ops/s, p99."""
        rows = []
        for run in sorted(self.runs, key=lambda r: r.id):
            total = run.summary.get("total", {})
            p = run.params()
            topo = p.get("topology") or next((t.get("kind") for t in run.manifest.get("topologies", [])), None)
            rows.append({"label": self.label(run), "run": run.id, "workload": self.workload(run), "topology": topo,
                         "users": p.get("users"), "rate (ops/s)": p.get("rate"),
                         "duration (s)": p.get("duration_s"), "status": run.status,
                         "ops/s": total.get("ops_per_s"), "p99 (µs)": total.get("p99_us"),
                         # supported: ≥ 10,000 requests in the run (analysis.throughput.P99_MIN_REQUESTS)
                         "p99 supported": p99_supported(total.get("count")),
                         "loadgen-bound": bool(p.get("loadgen_bound"))})
        return pd.DataFrame(rows)

    def environment(self):
        """Where the measurements came from: host, CPU, RAM, Redis and software versions (one row
        per distinct environment)."""
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


FAILOVER_RESULT = RESULT  # written by `rcap failover` (rcap.failover.record)


def experiment_results(runs: RunSet, experiment: str) -> list[tuple]:
    """``[(run, result dict)]`` of every ``experiment`` run (``failover``, ``memory-wall``) in the run set,
    oldest first."""
    out = []
    for run in runs.runs:
        path = run.path / FAILOVER_RESULT
        if run.manifest.get("experiment") == experiment and path.is_file():
            out.append((run, json.loads(path.read_text(encoding="utf-8"))))
    return out


@dataclass
class Context:
    """What every notebook works on: the target file (parsed), the run set and the topology to size."""

    target_load: Path
    target: object  # analysis.targets.TargetLoad
    runs: RunSet
    topology: str
    memo: dict = field(default_factory=dict, init=False, repr=False)  # per context: a copy (replace) starts empty

    def once(self, key: str, compute):
        """``compute()`` the first time ``key`` is asked for in this context, the stored result after."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    @property
    def name(self) -> str:
        return self.target.name

    @cached_property
    def recommendation(self):
        """``analysis.sizing.size`` for the target and topology, on the complete bench runs (the engine
    picks what it measures from them: service demand across sweep steps, memory from backlog growth)."""
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
    """Load the target file (a path, or a shipped target's name) and the runs (``run_dirs`` empty: the
    committed reference runs)."""
    path = resolve(resolve_target(str(target_load)))
    target = load_target(str(path))
    runs = RunSet.discover([resolve(p) for p in (run_dirs or [REFERENCE_RUNS])])
    return Context(path, target, runs, topology or target.deployment.topology)


def ctx_value(ctx: Context, key: str):
    """A number the sizing engine computed for the target (``None`` without a target)."""
    return ctx.sizing_values.get(key) if ctx.target is not None else None
