"""Measured series: runs → the DataFrames :mod:`analysis.plots` draws (times in s since the load started)."""

from __future__ import annotations

import numpy as np
import pandas as pd


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


def node_throughput(run, t0: float | None = None):
    """``t_s`` (since ``t0``, default the run's start), ``node``, ``ops_per_s``: commands per second
    each node served, from the server samples."""
    srv = run.server
    if srv.empty or "commands_per_s" not in srv:
        return pd.DataFrame(columns=["t_s", "node", "ops_per_s"])
    t0 = t0 or run.start_t or float(srv["t"].min())
    return pd.DataFrame({"t_s": srv["t"] - t0, "node": srv["node"], "ops_per_s": srv["commands_per_s"]}).dropna()
