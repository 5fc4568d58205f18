"""Scheduled keyspace scans (spec Corrections 9): how long Nuxeo's KEYS block Redis, and the latency spike
they cause for every other command, as a function of the total keyspace.

``KEYS <pattern>`` walks every key of the database whatever the pattern matches, so its blocking time is
proportional to the keyspace: ``µs per key × keys``. The factor is fitted on scans measured at two or more
keyspace sizes (through the origin, on the median scan of each size: per-second figures are noisy)
(:func:`scan_points` from runs of the kv / nuxeo-cluster scenarios with ``gc_period_s``, or direct
measurements); :func:`expected_spike` applies it to a target's keyspace. A command that arrives during a
scan waits for the rest of it: the worst spike is one scan's blocking time (each KEYS is its own round
trip, other clients get in between). Units: µs, keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from rcapcore.errors import BadInput
from rcapcore.nuxeo.scans import GC_PERIOD_S, scans_per_period

KEYS_PREFIX = "KEYS "
DEFAULT_US_PER_KEY = 0.145
"""Blocking time per key of one KEYS (µs), measured on the lab machine (Redis 7.0.15, 100 k–1 M keys,
BENCHMARKS.md); used only when no run measured it."""


def scan_points(runs: Iterable) -> pd.DataFrame:
    """Per second with scheduled KEYS in a run: ``keys`` (db0 keys on the primary, nearest sample),
    ``keys_us`` (mean KEYS latency that second), ``run_id``."""
    rows = []
    for run in runs:
        lat = run.latency
        if lat.empty:
            continue
        scans = lat[lat["op"].str.startswith(KEYS_PREFIX) & (lat["kind"] == "measured") & (lat["count"] > 0)]
        srv = run.server
        col = "keyspace.db0.keys"
        if scans.empty or col not in srv:
            continue
        if "role" in srv and (srv["role"] == "master").any():
            srv = srv[srv["role"] == "master"]
        srv = srv.dropna(subset=[col]).sort_values("t")
        if srv.empty:
            continue
        for _, r in scans.iterrows():
            i = int(np.abs(srv["t"].to_numpy() - r["t"]).argmin())
            rows.append({"keys": float(srv[col].iloc[i]), "keys_us": float(r["mean_us"]), "run_id": run.id})
    return pd.DataFrame(rows, columns=["keys", "keys_us", "run_id"])


@dataclass(frozen=True)
class BlockingFit:
    """``us_per_key`` fitted through the origin on the median scan of each keyspace size (``sizes``:
    ``(keys, µs)``); ``max_rel_residual``: the worst size's distance from the line, relative."""

    us_per_key: float
    sizes: tuple[tuple[float, float], ...]
    n: int
    max_rel_residual: float


def fit_blocking(keys: Sequence[float], keys_us: Sequence[float]) -> BlockingFit:
    """Blocking time (µs) proportional to the total keys; needs two keyspace sizes at least 2× apart
    (scans within ±10 % of a size count as that size)."""
    df = pd.DataFrame({"keys": np.asarray(keys, float), "us": np.asarray(keys_us, float)}).sort_values("keys")
    if df.empty or df["keys"].min() <= 0:
        raise BadInput("the KEYS blocking model needs scans at two or more keyspace sizes, at least 2x apart")
    group = (df["keys"] > df["keys"].shift() * 1.1).cumsum()
    sizes = df.groupby(group).median()
    if len(sizes) < 2 or sizes["keys"].max() < 2 * sizes["keys"].min():
        raise BadInput("the KEYS blocking model needs scans at two or more keyspace sizes, at least 2x apart")
    k, u = sizes["keys"].to_numpy(), sizes["us"].to_numpy()
    b = float((k * u).sum() / (k * k).sum())
    return BlockingFit(b, tuple(zip(k.tolist(), u.tolist())), len(df), float(np.max(np.abs(u - b * k) / (b * k))))


def spike(run) -> dict | None:
    """The other operations' latency in the seconds with a scan against the seconds without: ``max_us``
    (worst in scan seconds), ``baseline_p99_us`` (median per-second p99 elsewhere), ``scan_us`` (worst
    KEYS latency), ``scans``."""
    lat = run.latency
    if lat.empty:
        return None
    lat = lat[lat["kind"] == "measured"]
    is_scan = lat["op"].str.startswith(KEYS_PREFIX)
    scan_s = set(lat.loc[is_scan & (lat["count"] > 0), "t"])
    if not scan_s:
        return None
    others = lat[~is_scan & (lat["count"] > 0)]
    during, outside = others[others["t"].isin(scan_s)], others[~others["t"].isin(scan_s)]
    if during.empty or outside.empty:
        return None
    return {"max_us": float(during["max_us"].max()), "baseline_p99_us": float(outside.groupby("t")["p99_us"].max()
                                                                              .median()),
            "scan_us": float(lat.loc[is_scan, "max_us"].max()), "scans": int(lat.loc[is_scan, "count"].sum())}


@dataclass(frozen=True)
class SpikeForecast:
    """What the scheduled scans do to a keyspace of ``keys`` keys."""

    keys: float
    blocking_us: float  # one KEYS: the worst wait of a command that arrives during it
    scans_per_period: int  # all nodes, one GC period
    period_s: float
    blocked_ms_per_period: float
    slo_us: float
    keys_at_slo: float | None  # keyspace at which one scan's blocking reaches the p99 SLO
    source: str


def expected_spike(keys: float, nodes: int, slo_us: float, fit: BlockingFit | None = None,
                   period_s: float = GC_PERIOD_S) -> SpikeForecast:
    """The spike every ``period_s`` for ``keys`` keys on ``nodes`` Nuxeo nodes, and the keyspace at which
    it crosses ``slo_us`` (from ``fit``, else :data:`DEFAULT_US_PER_KEY`)."""
    b = fit.us_per_key if fit is not None else DEFAULT_US_PER_KEY
    blocking = b * keys
    n = scans_per_period(nodes)
    at_slo = slo_us / b if b > 0 else None
    source = (f"{b:.3f} µs per key fitted on {fit.n} scans at {len(fit.sizes)} keyspace sizes" if fit is not None
              else f"default {DEFAULT_US_PER_KEY} µs per key (lab measurement, no scan in the runs)")
    return SpikeForecast(keys, blocking, n, period_s, n * blocking / 1000, slo_us, at_slo, source)
