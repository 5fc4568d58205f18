"""Throughput of one Redis shard: service demand (utilization law), ceilings, USL fit, latency knee.

Redis executes commands on one main thread, so the shard's ceiling is 1 / D where D is the main thread's
CPU time per operation (or per work lifecycle: 4 EVALSHA, 32 inner commands). D comes from a light-load
run by the utilization law U = X · D: D = ΔCPU / Δcompleted, with ΔCPU = Δ(used_cpu_sys + used_cpu_user)
(the main-thread counters on 7.x when present). Times in µs, rates per second.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from loadgen.errors import BadInput

# Documented defaults used when no run is given (the output says so); replace them with
# `rcap model ceiling --runs …` figures measured on the target hardware.
# Both measured on the 2-core AMD EPYC dev machine, Redis 7.0.15 (BENCHMARKS.md "Model validation"):
DEFAULT_CPU_US_PER_WORK = 140.0  # one lifecycle (4 EVALSHA, 1.5 KB payload) sent unpipelined as Nuxeo does
DEFAULT_CPU_US_PER_OP = 13.0  # one unpipelined GET/SET of 200 B (redis-benchmark -c 1: 11–16 µs)
TLS_CPU_FACTOR = 1.55  # main-thread CPU per unpipelined SET, TLS / plain: median of 5 runs (1.07–1.75), BENCHMARKS.md
DEFAULT_MAX_UTILIZATION = 0.8  # keep the main thread below 80 % (Azure/Redis Enterprise guidance)


@dataclass(frozen=True)
class ServiceDemand:
    """Main-thread CPU per unit of work (µs), measured at utilization ``utilization`` (0..1)."""

    cpu_us_per_op: float
    cpu_us_per_work: float | None
    utilization: float
    ops_per_s: float
    works_per_s: float | None
    source: str  # "measured: <run ids>" or "default"

    def ceiling(self, max_utilization: float = 1.0) -> dict[str, float | None]:
        """Saturation throughputs of one shard: ``{"ops_per_s", "works_per_s"}``."""
        return {"ops_per_s": max_utilization * 1e6 / self.cpu_us_per_op,
                "works_per_s": (max_utilization * 1e6 / self.cpu_us_per_work) if self.cpu_us_per_work else None}

    def to_dict(self) -> dict:
        return asdict(self)


def default_demand() -> ServiceDemand:
    return ServiceDemand(DEFAULT_CPU_US_PER_OP, DEFAULT_CPU_US_PER_WORK, 0.0, 0.0, None, "default")


def _cpu_columns(df: pd.DataFrame) -> list[str]:
    if "used_cpu_sys_main_thread" in df and df["used_cpu_sys_main_thread"].notna().any():
        return ["used_cpu_sys_main_thread", "used_cpu_user_main_thread"]
    return ["used_cpu_sys", "used_cpu_user"]


def demand_from_samples(server: pd.DataFrame, works_completed: float | None = None,
                        node: str | None = None, source: str = "measured") -> ServiceDemand:
    """Service demand from one node's INFO samples (columns ``t``, CPU counters, ``total_commands_processed``).

    ``works_completed`` (works finished during the sampled window) gives the per-work demand.
    """
    df = server if node is None else server[server["node"] == node]
    if "role" in df and node is None:
        masters = df[df["role"].isin(["master", None])]
        if len(masters):
            df = masters[masters["node"] == masters["node"].iloc[0]] if "node" in masters else masters
    df = df.sort_values("t")
    if len(df) < 2:
        raise BadInput("need at least two server samples to measure CPU per operation")
    cols = _cpu_columns(df)
    first, last = df.iloc[0], df.iloc[-1]
    dt = float(last["t"] - first["t"])
    cpu_s = float(sum(last[c] - first[c] for c in cols))
    ops = float(last["total_commands_processed"] - first["total_commands_processed"])
    if dt <= 0 or ops <= 0 or cpu_s <= 0:
        raise BadInput("the samples show no commands or no CPU time: cannot measure service demand")
    per_work = cpu_s * 1e6 / works_completed if works_completed else None
    return ServiceDemand(cpu_s * 1e6 / ops, per_work, cpu_s / dt, ops / dt,
                         (works_completed / dt) if works_completed else None, source)


def works_completed(counters: dict | None) -> float | None:
    """Works completed in a run, from its ``counters.json`` (``works.completed`` or ``totals.works_completed``)."""
    c = counters or {}
    works = c.get("works") if isinstance(c.get("works"), dict) else {}
    value = works.get("completed") or (c.get("totals") or {}).get("works_completed") or c.get("works_completed")
    return float(value) if value else None


def demand_from_runs(runs: Sequence) -> ServiceDemand:
    """Service demand from ``analysis.runs.Run`` objects (light-load runs).

    Per work: with two or more WorkManager runs at different rates, the utilization law is fitted across
    them (U = U0 + X·D, :func:`fit_demand`) so fixed costs (cron, idle polling, sampling) do not inflate D;
    with one run, D = U / X (an upper bound). Per operation: U / X over the runs without works (else all).
    """
    if not runs:
        raise BadInput("no runs given")
    rows = []
    for run in runs:
        works = works_completed(run.counters)
        rows.append((run, demand_from_samples(run.server, works, source=run.id)))
    with_works = [d for _, d in rows if d.works_per_s]
    per_work, method = None, ""
    if len({round(d.works_per_s, 3) for d in with_works}) >= 2:
        f = fit_demand([d.works_per_s for d in with_works], [d.utilization for d in with_works])
        if f["cpu_us_per_work"] > 0:
            per_work, method = f["cpu_us_per_work"], f"utilization law fitted over {len(with_works)} runs"
    if per_work is None and with_works:
        per_work = float(np.mean([d.cpu_us_per_work for d in with_works]))
        method = "U/X of single runs (upper bound)"
    plain = [d for _, d in rows if not d.works_per_s] or [d for _, d in rows]
    return ServiceDemand(float(np.mean([d.cpu_us_per_op for d in plain])), per_work,
                         float(np.mean([d.utilization for _, d in rows])),
                         float(np.mean([d.ops_per_s for _, d in rows])), None,
                         "measured: " + ", ".join(r.id for r, _ in rows) + (f" ({method})" if method else ""))


def fit_demand(works_per_s: Sequence[float], utilization: Sequence[float]) -> dict:
    """Utilization law across light-load levels: U = U0 + X·D (least squares). ``cpu_us_per_work`` = D (µs,
    with a 95 % CI), ``idle_utilization`` = U0 (cron and wake-up costs that do not grow with load). The
    ceiling is (1 − U0) / D."""
    from analysis.memory import fit_linear  # noqa: PLC0415

    f = fit_linear(works_per_s, utilization)
    return {"cpu_us_per_work": f.slope * 1e6, "cpu_us_per_work_ci": (f.slope_ci[0] * 1e6, f.slope_ci[1] * 1e6),
            "idle_utilization": max(0.0, f.intercept), "r2": f.r2,
            "ceiling_works_per_s": (1 - max(0.0, f.intercept)) / f.slope if f.slope > 0 else math.inf}


# ----------------------------------------------------------------------------------------------- USL


@dataclass(frozen=True)
class USLFit:
    """X(N) = λN / (1 + σ(N−1) + κN(N−1)) with 95 % CIs (from the curve_fit covariance)."""

    lam: float
    sigma: float
    kappa: float
    lam_ci: tuple[float, float]
    sigma_ci: tuple[float, float]
    kappa_ci: tuple[float, float]
    r2: float

    def throughput(self, n: float | np.ndarray) -> float | np.ndarray:
        return usl(n, self.lam, self.sigma, self.kappa)

    @property
    def peak_concurrency(self) -> float:
        """N* = √((1 − σ)/κ); infinite when κ = 0."""
        return math.sqrt((1 - self.sigma) / self.kappa) if self.kappa > 0 else math.inf

    @property
    def peak_throughput(self) -> float:
        n = self.peak_concurrency
        return float(self.throughput(n)) if math.isfinite(n) else self.lam / max(self.sigma, 1e-12)

    def to_dict(self) -> dict:
        return {**asdict(self), "peak_concurrency": self.peak_concurrency, "peak_throughput": self.peak_throughput}


def usl(n, lam, sigma, kappa):
    n = np.asarray(n, float)
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def fit_usl(concurrency: Sequence[float], throughput: Sequence[float]) -> USLFit:
    """Least-squares USL fit (σ, κ ≥ 0) on a concurrency sweep; needs ≥ 4 points."""
    n, x = np.asarray(concurrency, float), np.asarray(throughput, float)
    if len(n) < 4:
        raise BadInput("a USL fit needs at least 4 concurrency levels")
    lam0 = float(x[np.argmin(n)] / n.min())
    popt, pcov = curve_fit(usl, n, x, p0=(lam0, 0.05, 0.001), bounds=([0, 0, 0], [np.inf, 1, 1]), maxfev=20000)
    se = np.sqrt(np.clip(np.diag(pcov), 0, None))
    ci = [(float(p - 1.96 * s), float(p + 1.96 * s)) for p, s in zip(popt, se)]
    resid = x - usl(n, *popt)
    r2 = 1 - float((resid ** 2).sum() / max(((x - x.mean()) ** 2).sum(), 1e-300))
    return USLFit(float(popt[0]), float(popt[1]), float(popt[2]), ci[0], ci[1], ci[2], r2)


def latency_knee(load: Sequence[float], p99_us: Sequence[float], slo_us: float) -> float | None:
    """Highest load whose p99 stays within ``slo_us`` (linear interpolation between sweep points)."""
    pts = sorted(zip(map(float, load), map(float, p99_us)))
    if not pts or pts[0][1] > slo_us:
        return None
    best = pts[0][0]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if y1 <= slo_us:
            best = x1
            continue
        return best if y0 > slo_us else x0 + (slo_us - y0) * (x1 - x0) / (y1 - y0)
    return best


# ---------------------------------------------------------------------------------- topology effects


def tls_cpu_factor(demand_tls: ServiceDemand, demand_plain: ServiceDemand) -> float:
    """Measured CPU-per-op ratio TLS / plain (the ceiling divides by it)."""
    return demand_tls.cpu_us_per_op / demand_plain.cpu_us_per_op


def cluster_what_if(shards: int, works_per_s_ceiling: float, kv_ops_per_s_ceiling: float) -> dict[str, float]:
    """Scale-out: KV traffic spreads over shards; the WorkManager scripts touch keys in several hash slots
    (no hash tags), so they cannot be sharded: the WorkManager ceiling stays that of one shard."""
    return {"works_per_s": works_per_s_ceiling, "kv_ops_per_s": kv_ops_per_s_ceiling * shards}
