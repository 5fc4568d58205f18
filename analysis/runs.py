"""Run directories (``data/runs/<run-id>/``, schema in ``data/README.md``) as pandas DataFrames.

Reads files only. ``load_run(path)`` gives a :class:`Run`; ``load_runs(paths)`` several;
``load_sweep(path)`` a :class:`Sweep` written by ``rcap sweep``; ``runs_frame(runs)`` one row per run
and operation (parameters + summary), the input of the throughput model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from rcapcore.latency import PERCENTILES, decode, latency_stats, read_latency_lines
from rcapcore.rundata import (COUNTERS, DIAGNOSTICS, EVENTS, LATENCY, LOCUST_STATS, MANIFEST, SERVER_DIR, SUMMARY,
                              SWEEP, UNUSABLE_STATUSES, WORKLOAD, Manifest, SweepManifest, Summary, open_runs,
                              read_json)


def usable(runs: Iterable["Run"], include_degraded: bool = False) -> tuple[list["Run"], str | None]:
    """``(runs to use, note)``: degraded and unfinished runs are left out unless ``include_degraded``;
    ``note`` is one line saying which were left out (or included), ``None`` when there were none."""
    runs = list(runs)
    odd = [r for r in runs if r.status in UNUSABLE_STATUSES]
    if not odd:
        return runs, None
    names = ", ".join(f"{r.id} ({r.status})" for r in odd[:5]) + (" …" if len(odd) > 5 else "")
    if include_degraded:
        return runs, f"including {len(odd)} degraded or unfinished run(s) as asked: {names}"
    return ([r for r in runs if r.status not in UNUSABLE_STATUSES],
            f"left out {len(odd)} degraded or unfinished run(s): {names}; --include-degraded uses them")


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a torn last line after a hard kill
                    continue
    return out


def _flatten(prefix: str, obj: Any, out: dict) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif not isinstance(obj, list):
        out[prefix] = obj


def server_record_row(rec: dict) -> dict:
    """One server sample as a flat row: INFO and derived fields by their own names
    (``used_memory``, ``repl_lag_bytes_max``), ``cmd.<command>.<field>``, ``memory_stats.<name>``,
    ``keyspace.<db>.<field>``."""
    row: dict[str, Any] = {"t": rec["t"], "node": rec["node"], "role": rec.get("role")}
    row.update({k: v for k, v in rec.get("info", {}).items() if k != "role"})  # INFO says "slave"
    row.update({k: v for k, v in rec.get("derived", {}).items() if not isinstance(v, (dict, list))})
    for section in ("cmd", "memory_stats", "keyspace"):
        _flatten(section, rec.get(section, {}), row)
    return row


@dataclass
class Run:
    """One run directory. DataFrames are built on first access.

    - ``latency``: one row per second × op × kind (``measured``/``corrected``): ``t`` (epoch s),
      ``elapsed_s``, ``op``, ``kind``, ``count``, ``errors``, ``ops_per_s``, ``p50_us`` … ``p999_us``,
      ``max_us``, ``mean_us``.
    - ``server``: one row per node × sample (≈ 1 s): ``t``, ``elapsed_s``, ``node``, ``role`` and the
      fields of :func:`server_record_row`.
    - ``events``: ``t``, ``elapsed_s``, ``kind`` and the event's own fields.
    - ``workload``: one row per second: ``t``, ``elapsed_s``, ``work_backlog`` (WorkManager works
      scheduled or running, read on the target with HLEN of the state hash).
    """

    path: Path
    manifest: dict = field(repr=False)
    summary: dict = field(repr=False)
    counters: dict = field(repr=False)

    @cached_property
    def meta(self) -> Manifest:
        """The manifest, typed (:class:`rcapcore.rundata.Manifest`); ``manifest`` is the same JSON as a dict."""
        return Manifest.from_dict(self.manifest)

    @cached_property
    def totals(self) -> Summary:
        """``summary.json``, typed (:class:`rcapcore.rundata.Summary`)."""
        return Summary.from_dict(self.summary)

    @property
    def id(self) -> str:
        return self.meta.run_id or self.path.name

    @property
    def status(self) -> str | None:
        return self.meta.status

    @property
    def start_t(self) -> float | None:
        """Epoch seconds when the load started (the origin of ``elapsed_s``)."""
        return self.meta.load_origin_t

    def _elapsed(self, df: pd.DataFrame) -> pd.DataFrame:
        if not df.empty and "t" in df and self.start_t:
            df.insert(1, "elapsed_s", df["t"] - self.start_t)
        return df

    @cached_property
    def latency(self) -> pd.DataFrame:
        rows = []
        for rec in read_latency_lines(self.path / LATENCY):
            hist = decode(rec["hdr"]) if rec.get("hdr") else None
            stats = latency_stats(hist) if hist is not None else {}
            rows.append({"t": rec["t"], "op": rec["op"], "kind": rec.get("kind", "measured"),
                         "count": rec.get("count", 0), "errors": rec.get("errors", 0), **stats})
        cols = ["t", "op", "kind", "count", "errors", *PERCENTILES, "max_us", "mean_us"]
        df = pd.DataFrame(rows, columns=cols)
        df["ops_per_s"] = df["count"].astype(float)  # one row is one second
        return self._elapsed(df.sort_values(["t", "op", "kind"], ignore_index=True))

    @cached_property
    def server(self) -> pd.DataFrame:
        rows = []
        for path in sorted((self.path / SERVER_DIR).glob("*.jsonl")):
            rows.extend(server_record_row(rec) for rec in _read_jsonl(path))
        df = pd.DataFrame(rows)
        if df.empty:
            return pd.DataFrame(columns=["t", "node", "role"])
        return self._elapsed(df.sort_values(["t", "node"], ignore_index=True))

    @cached_property
    def events(self) -> pd.DataFrame:
        df = pd.DataFrame(_read_jsonl(self.path / EVENTS))
        if df.empty:
            return pd.DataFrame(columns=["t", "kind"])
        return self._elapsed(df.sort_values("t", ignore_index=True))

    @cached_property
    def workload(self) -> pd.DataFrame:
        df = pd.DataFrame(_read_jsonl(self.path / WORKLOAD))
        if df.empty:
            return pd.DataFrame(columns=["t", "work_backlog"])
        return self._elapsed(df.sort_values("t", ignore_index=True))

    @cached_property
    def diagnostics(self) -> dict:
        """``diagnostics.json``: the server's own latency percentiles, error stats, slow log and latency
        events (``loadgen.recorder.diagnostics``); empty for runs recorded before it existed."""
        return read_json(self.path / DIAGNOSTICS)

    @cached_property
    def ops(self) -> pd.DataFrame:
        """``summary.json``'s per-operation figures, one row per op (index: op)."""
        df = pd.DataFrame.from_dict(self.totals.ops or {}, orient="index")
        df.index.name = "op"
        return df

    @cached_property
    def locust_stats(self) -> pd.DataFrame:
        """Locust's own ``locust_stats.csv`` (milliseconds, rounded by Locust)."""
        path = self.path / LOCUST_STATS
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    def params(self) -> dict[str, Any]:
        """The run's parameters (users, rate, duration_s, processes, scenario name, topology)."""
        m = self.meta
        return {"run_id": self.id, "scenario": m.scenario_name, "topology": m.topology_name, "status": self.status,
                "loadgen_bound": m.loadgen_bound, **{k: m.param(k) for k in ("users", "rate", "duration_s", "processes")}}


def load_run(path: str | Path) -> Run:
    """Read one run directory (raises ``FileNotFoundError`` if it has no ``manifest.json``)."""
    path = Path(path)
    if not (path / MANIFEST).exists():
        raise FileNotFoundError(f"{path} is not a run directory (no {MANIFEST})")
    return Run(path=path, manifest=read_json(path / MANIFEST), summary=read_json(path / SUMMARY),
               counters=read_json(path / COUNTERS))


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Read several run directories, in the order given."""
    return [load_run(p) for p in paths]


def runs_frame(runs: Iterable[Run], op: str | None = "total") -> pd.DataFrame:
    """One row per run (and per op; ``op="total"`` = all ops merged, ``None`` = every op):
    the run's parameters plus that op's ``count``, ``errors``, ``ops_per_s`` and percentiles (µs)."""
    rows = []
    for run in runs:
        entries = {"total": run.totals.total or {}} if op == "total" else (run.totals.ops or {})
        for name, figures in entries.items():
            if op not in (None, "total") and name != op:
                continue
            rows.append({**run.params(), "op": name, **figures})
    return pd.DataFrame(rows)


@dataclass
class Sweep:
    """A sweep directory: ``manifest`` (``sweep.json``) and its runs, in sweep order."""

    path: Path
    manifest: dict = field(repr=False)
    runs: list[Run] = field(repr=False)

    @property
    def param(self) -> str:
        """``users`` or ``rate``: what the sweep varies."""
        return self.manifest["param"]

    def frame(self, op: str | None = "total") -> pd.DataFrame:
        """:func:`runs_frame` of the sweep's runs, with the swept value in column ``value``."""
        df = runs_frame(self.runs, op=op)
        values = {entry["run_id"]: entry["value"] for entry in self.manifest.get("runs", [])}
        if not df.empty:
            df.insert(0, "value", df["run_id"].map(values))
        return df


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep directory and the runs it lists (runs that never started are skipped)."""
    path = Path(path)
    manifest = read_json(path / SWEEP)
    if not manifest:
        raise FileNotFoundError(f"{path} is not a sweep directory (no {SWEEP})")
    runs = [load_run(p) for p in SweepManifest.from_dict(manifest).step_dirs(path)]
    return Sweep(path=path, manifest=manifest, runs=runs)


def open_sweeps_and_runs(paths: Iterable[str | Path], include_degraded: bool = False, *,
                         missing_ok: bool = False) -> tuple[list[Run], list[Sweep], list[Run], str | None]:
    """:func:`rcapcore.rundata.open_runs` (runs, sweeps and suite folders, resolved the same way for every
    command) read as DataFrame-backed objects: ``(usable runs, sweeps, every run found, note)``."""
    opened = open_runs(paths, include_degraded, missing_ok=missing_ok)
    by_path = {p: load_run(p) for p in opened.all_runs}
    sweeps = [Sweep(path=s, manifest=read_json(s / SWEEP),
                    runs=[by_path[p.resolve()] for p in SweepManifest.from_dict(read_json(s / SWEEP)).step_dirs(s)
                          if p.resolve() in by_path])
              for s in opened.sweeps]
    return [by_path[p] for p in opened.usable], sweeps, list(by_path.values()), opened.note


__all__ = ["Run", "Sweep", "UNUSABLE_STATUSES", "load_run", "load_runs", "load_sweep", "open_sweeps_and_runs", "runs_frame",
           "server_record_row", "usable"]
