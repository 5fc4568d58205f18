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

from rcapcore.errors import BadInput

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


P99_MIN_REQUESTS = 10_000
"""A step's p99 is supported when it holds at least this many requests (≥ 100 samples above the p99):
fewer, and the p99 is indicative only. The report's latency verdict uses supported p99 values."""


def p99_supported(count: float | None) -> bool:
    """Whether ``count`` requests (of one op, or all ops, in one step) support a p99 (:data:`P99_MIN_REQUESTS`)."""
    return bool(count) and float(count) >= P99_MIN_REQUESTS


def latency_knee(load: Sequence[float], p99_us: Sequence[float], slo_us: float) -> float | None:
    """Highest load whose p99 met ``slo_us``: the highest measured point within it, interpolated towards
    the next point above it. ``None`` only when no point met the SLO (so "no run met the SLO" and the
    best p99 never contradict each other)."""
    pts = sorted(zip(map(float, load), map(float, p99_us)))
    within = [i for i, (_x, y) in enumerate(pts) if y <= slo_us]
    if not within:
        return None
    i = within[-1]
    x0, y0 = pts[i]
    if i + 1 == len(pts):
        return x0
    x1, y1 = pts[i + 1]
    return x0 + (slo_us - y0) * (x1 - x0) / (y1 - y0)


def p99_at(load: Sequence[float], p99_us: Sequence[float], x: float) -> float | None:
    """p99 (µs) at load ``x``, interpolated between the measured points around it (``None`` outside them)."""
    pts = sorted(zip(map(float, load), map(float, p99_us)))
    if not pts or x < pts[0][0] or x > pts[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (x - x0) * (y1 - y0) / (x1 - x0)
    return pts[0][1]


# ---------------------------------------------------------------------------------- topology effects


def tls_cpu_factor(demand_tls: ServiceDemand, demand_plain: ServiceDemand) -> float:
    """Measured CPU-per-op ratio TLS / plain (the ceiling divides by it)."""
    return demand_tls.cpu_us_per_op / demand_plain.cpu_us_per_op


def cluster_what_if(shards: int, works_per_s_ceiling: float, kv_ops_per_s_ceiling: float) -> dict[str, float]:
    """Scale-out: KV traffic spreads over shards; the WorkManager scripts touch keys in several hash slots
    (no hash tags), so they cannot be sharded: the WorkManager ceiling stays that of one shard."""
    return {"works_per_s": works_per_s_ceiling, "kv_ops_per_s": kv_ops_per_s_ceiling * shards}


# ------------------------------------------------------------------- CPU per unit as a function of load

# Share of the zero-load CPU per unit that is per-event-loop-turn cost (epoll_wait wake-up, beforeSleep,
# the read/write syscalls' fixed part), amortised away at saturation: turn_us / (busy_us + turn_us).
# Reference on the 2-core dev machine, Redis 7.0.15: an unpipelined saturation by memtier_benchmark
# (4 EVALSHA per lifecycle, 50 connections: 18,900 works/s = 52.9 µs/work, issue 11) against the
# documented light-load 140 µs/work: 1 − 52.9/140 = 0.62. Used only when no run gets past
# IDENTIFIABLE_UTILIZATION; the output then says the ceiling is extrapolated (docs/models.md).
DEFAULT_TURN_SHARE = 0.62
IDENTIFIABLE_UTILIZATION = 0.6  # below this top utilization, busy and turn costs cannot be told apart
MAX_TURN_SHARE = 0.85
"""Largest share of the light-load CPU per request a free fit may put on the per-turn cost: above it the
saturated cost (busy) nears zero and the ceiling (1 / busy) runs to absurd values (2.4e14 works/s was
printed once); the fixed reference share is used instead, and the method says why."""
MAX_IDLE_UTILIZATION = 0.05  # load-independent CPU (hz 10 cron, 1 INFO/s sampling) is ≈ 1 %: a larger
# fitted intercept is noise (start-up work inside a short step), not idle cost
SATURATED_UTILIZATION = 0.9  # a probe step at or above this main-thread utilization measures saturation
PROBE_WORKLOAD = "work-lifecycle"
NON_REQUEST_OPS = ("pubsub delivery", "pattern batch-upload")  # latency series that are not round trips


@dataclass(frozen=True)
class LoadPoint:
    """One run at steady state: main-thread utilization (0..1) and throughputs over the same window.

    ``requests_per_s`` counts client requests (round trips: one command or one script call); this is
    what "op" means in every ops/s figure of rcap's throughput model."""

    run_id: str
    workload: str
    utilization: float
    works_per_s: float
    requests_per_s: float
    concurrency: int | None
    closed_loop: bool

    def to_dict(self) -> dict:
        return asdict(self)


def load_point(run) -> LoadPoint | None:
    """The run's steady window: master CPU delta over the server samples inside the summary's steady
    seconds, and the requests and completed works counted in the latency file over the same seconds."""
    sv = run.server
    if sv.empty or "t" not in sv:
        return None
    if "role" in sv and (sv["role"] == "master").any():
        sv = sv[sv["role"] == "master"]
    if "node" in sv:
        sv = sv[sv["node"] == sv["node"].iloc[0]]
    sv = sv.sort_values("t")
    lo, hi = run.summary.get("steady_first_t"), run.summary.get("steady_last_t")
    if lo is not None and hi is not None:
        inside = sv[(sv["t"] >= lo) & (sv["t"] <= hi + 1)]
        if len(inside) >= 2:
            sv = inside
    if len(sv) < 2:
        return None
    cols = _cpu_columns(sv)
    first, last = sv.iloc[0], sv.iloc[-1]
    dt = float(last["t"] - first["t"])
    cpu_s = float(sum(last[c] - first[c] for c in cols))
    if dt <= 0:
        return None
    t0, t1 = math.ceil(float(first["t"])), math.floor(float(last["t"]))
    lat = run.latency
    lat = lat[lat["kind"] == "measured"] if "kind" in lat else lat
    if t1 - t0 >= 1 and not lat.empty:
        win = lat[(lat["t"] >= t0) & (lat["t"] < t1)]
        span = t1 - t0
        requests = float(win.loc[~win["op"].isin(NON_REQUEST_OPS), "count"].sum()) / span
        works = float(win.loc[win["op"] == "EVALSHA completed-work", "count"].sum()) / span
    else:
        ops = run.summary.get("ops", {})
        requests = sum((v.get("ops_per_s") or 0) for k, v in ops.items() if k not in NON_REQUEST_OPS)
        works = (ops.get("EVALSHA completed-work") or {}).get("ops_per_s") or 0.0
    scen = run.manifest.get("scenario") or {}
    users = (run.manifest.get("parameters") or {}).get("users") or scen.get("users")
    return LoadPoint(run.id, scen.get("workload") or "?", cpu_s / dt, works, requests,
                     int(users) if users else None, scen.get("rate") is None)


@dataclass(frozen=True)
class CpuModel:
    """Main-thread CPU per unit (a work lifecycle, or an op = one client request) as a function of load.

    Redis serves every ready client in one event-loop turn, and each turn has a fixed cost (the
    ``epoll_wait`` wake-up, ``beforeSleep``, per-turn bookkeeping). A request that arrives while the main
    thread is idle starts a turn of its own and pays that cost; one that arrives while it is busy joins the
    next turn's batch. By PASTA the share of arrivals that find it idle is 1 − U, so

        D(U) = busy_us + turn_us · (1 − U)        and        U = U0 + X · D(U),

    i.e. U = (U0 + X·(busy_us + turn_us)) / (1 + X·turn_us). At light load D ≈ busy_us + turn_us (what the
    utilization law measures at 100–1,000 works/s); at saturation D → busy_us and the ceiling is
    (1 − U0) / busy_us. ``U0`` is load-independent CPU (cron, INFO sampling, idle polls).
    """

    unit: str  # "work" or "op"
    busy_us: float
    turn_us: float
    idle_utilization: float
    method: str
    points: int
    max_measured_utilization: float
    max_measured_per_s: float

    def demand_us(self, utilization: float) -> float:
        """CPU per unit (µs) when the main thread is ``utilization`` busy."""
        return self.busy_us + self.turn_us * (1 - min(max(utilization, 0.0), 1.0))

    def utilization_at(self, per_s: float) -> float:
        """Main-thread utilization (0..1, may exceed 1 = over capacity) at ``per_s`` units per second."""
        x = per_s / 1e6
        return (self.idle_utilization + x * (self.busy_us + self.turn_us)) / (1 + x * self.turn_us)

    def throughput_at(self, utilization: float = 1.0) -> float:
        """Units per second that keep the main thread ``utilization`` busy (the ceiling at 1.0)."""
        u = utilization
        return max(0.0, u - self.idle_utilization) * 1e6 / (self.busy_us + self.turn_us * (1 - u))

    @property
    def ceiling_per_s(self) -> float:
        return self.throughput_at(1.0)

    @property
    def extrapolation(self) -> float:
        """How far the ceiling lies beyond the highest throughput measured (× that throughput)."""
        return self.ceiling_per_s / self.max_measured_per_s if self.max_measured_per_s else math.inf

    def scaled(self, factor: float) -> "CpuModel":
        """The same model with every CPU cost × ``factor`` (TLS)."""
        from dataclasses import replace  # noqa: PLC0415

        return self if factor == 1.0 else replace(self, busy_us=self.busy_us * factor, turn_us=self.turn_us * factor)

    def to_dict(self) -> dict:
        return {**asdict(self), "ceiling_per_s": self.ceiling_per_s,
                "extrapolation": self.extrapolation if math.isfinite(self.extrapolation) else None,
                "light_load_us": self.busy_us + self.turn_us}


def combined_utilization(loads: Sequence[tuple["CpuModel", float]]) -> float:
    """Main-thread utilization of several traffic kinds at once, ``[(model, units per second)]``:
    U = (U0 + Σ x·(busy + turn)) / (1 + Σ x·turn), U0 counted once (the largest)."""
    u0 = max((m.idle_utilization for m, _x in loads), default=0.0)
    num = u0 + sum(x / 1e6 * (m.busy_us + m.turn_us) for m, x in loads)
    return num / (1 + sum(x / 1e6 * m.turn_us for m, x in loads))


def fit_cpu_model(per_s: Sequence[float], utilization: Sequence[float], unit: str = "work",
                  turn_share: float = DEFAULT_TURN_SHARE) -> CpuModel:
    """Fit :class:`CpuModel` on (throughput, utilization) points of one kind of traffic.

    When the points reach ``IDENTIFIABLE_UTILIZATION``, ``U = U0 + X·busy + X·(1−U)·turn`` is a linear
    least-squares problem (non-negative coefficients). Below it the two costs are collinear: the
    light-load demand comes from the utilization law (U = U0 + X·D) and is split with ``turn_share``
    (measured by the saturation probe), and the result says how far it extrapolates.
    """
    from scipy.optimize import lsq_linear  # noqa: PLC0415

    x = np.asarray(per_s, float) / 1e6
    u = np.asarray(utilization, float)
    keep = x > 0
    x, u = x[keep], u[keep]
    if not len(x):
        raise BadInput(f"no run with {unit}s completed: cannot model CPU per {unit}")
    u_max, x_max = float(u.max()), float(x.max() * 1e6)
    note = ""
    if u_max >= IDENTIFIABLE_UTILIZATION and len(x) >= 3:
        a = np.column_stack([np.ones_like(x), x, x * (1 - u)])
        res = lsq_linear(a, u, bounds=([0, 1e-9, 0], [MAX_IDLE_UTILIZATION, np.inf, np.inf]))
        u0, busy, turn = map(float, res.x)
        share = turn / (busy + turn)
        if share <= MAX_TURN_SHARE:
            return CpuModel(unit, busy, turn, u0, f"fixed per-turn cost model fitted over {len(x)} runs "
                            f"(up to {100 * u_max:.0f} % main-thread utilization)", len(x), u_max, x_max)
        # noisy points (a shared machine) can put nearly all the cost on turns, i.e. a ceiling near infinity
        note = f"; the free fit put {share:.0%} of the cost on turns, which no saturation showed"
    # busy and turn are collinear here: fix their split (turn = share · Z, busy = (1 − share) · Z, Z the
    # zero-load demand) and fit Z and U0 on the model's own equation, U − U0 = Z · X · (1 − share · U),
    # so the points' different utilizations are read through the model rather than a straight line
    if len(x) >= 2 and len(set(np.round(x, 9))) >= 2:
        a = np.column_stack([np.ones_like(x), x * (1 - turn_share * u)])
        res = lsq_linear(a, u, bounds=([0, 1e-9], [MAX_IDLE_UTILIZATION, np.inf]))
        u0, zero_load = map(float, res.x)
        how = f"model fitted over {len(x)} runs with a fixed turn share"
    else:
        u0, zero_load = 0.0, float(np.mean(u / (x * (1 - turn_share * u))))
        how = "one run, model with a fixed turn share"
    return CpuModel(unit, (1 - turn_share) * zero_load, turn_share * zero_load, u0,
                    f"{how} (up to {100 * u_max:.0f} % main-thread utilization; turn share {turn_share:.2f} "
                    f"from the reference saturation{note}): extrapolated", len(x), u_max, x_max)


def _documented(light_us: float, unit: str, why: str = "no runs given") -> CpuModel:
    """A model from a documented light-load demand (µs per unit), split with DEFAULT_TURN_SHARE."""
    from dataclasses import replace  # noqa: PLC0415

    m = fit_cpu_model([1.0], [light_us / 1e6], unit)
    return replace(m, method=f"documented default: {light_us:g} µs/{unit} at light load, turn share "
                             f"{DEFAULT_TURN_SHARE:.2f} ({why})", points=0, max_measured_utilization=0.0,
                   max_measured_per_s=0.0)


def default_work_model(why: str = "no runs given") -> CpuModel:
    return _documented(DEFAULT_CPU_US_PER_WORK, "work", why)


def default_op_model(why: str = "no runs given") -> CpuModel:
    return _documented(DEFAULT_CPU_US_PER_OP, "op", why)


REQUESTS_PER_WORK = 4  # a lifecycle's round trips: scheduling-work, pop-work, running-work, completed-work


def fit_work_model(points: Sequence[LoadPoint]) -> CpuModel:
    """The CPU model per work, fitted per *request* of the WorkManager runs and scaled by
    :data:`REQUESTS_PER_WORK`.

    The main thread pays per round trip: each request can start its own event-loop turn. A light-load
    WorkManager run also sends requests that complete no work (idle consumers' pop-work polls: 4.6–5.7
    requests per work at 100–1,000 works/s), and per request they cost what the lifecycle's do. Fitting
    per request keeps them from inflating the per-work demand. In five same-session runs against
    redis-benchmark, the light-load-only prediction was within 15 % in 3 of 5 fitted per request, and in
    1 of 5 fitted per work (BENCHMARKS.md).
    """
    from dataclasses import replace  # noqa: PLC0415

    m = fit_cpu_model([p.requests_per_s for p in points], [p.utilization for p in points], "work")
    k = REQUESTS_PER_WORK
    return replace(m, busy_us=k * m.busy_us, turn_us=k * m.turn_us,
                   max_measured_per_s=max(p.works_per_s for p in points),
                   method=f"{m.method}; per request, × {k} requests per work")


@dataclass(frozen=True)
class Ceilings:
    """One shard's works/s and ops/s ceilings (op = one client request), their models and their check
    against the saturation probe."""

    works: CpuModel
    ops: CpuModel
    works_light: CpuModel | None  # fitted on the light-load runs alone (the probe left out)
    probe: LoadPoint | None  # the probe's highest-throughput step
    source: str

    @property
    def probe_saturated(self) -> bool:
        return self.probe is not None and self.probe.utilization >= SATURATED_UTILIZATION

    def validation(self) -> dict | None:
        """The light-load model's prediction at the probe's measured utilization against the probe."""
        if self.probe is None or self.works_light is None:
            return None
        predicted = self.works_light.throughput_at(self.probe.utilization)
        return {"predicted_works_per_s": predicted, "measured_works_per_s": self.probe.works_per_s,
                "at_utilization": self.probe.utilization, "saturated": self.probe_saturated,
                "error": (predicted - self.probe.works_per_s) / self.probe.works_per_s,
                "predicted_from": self.works_light.method, "probe_run": self.probe.run_id}

    def to_dict(self) -> dict:
        return {"works_per_s": self.works.ceiling_per_s, "ops_per_s": self.ops.ceiling_per_s,
                "op": "one client request (one round trip: a command or a script call)",
                "works": self.works.to_dict(), "ops": self.ops.to_dict(),
                "works_from_light_load": self.works_light.to_dict() if self.works_light else None,
                "probe": self.probe.to_dict() if self.probe else None, "validation": self.validation(),
                "source": self.source}


def ceilings_from_runs(runs: Sequence) -> Ceilings:
    """Fit the works and ops CPU models on runs (documented defaults for a kind no run measured).

    Works: every run that completed works (the light-load WorkManager sweep and the saturation probe).
    Ops: closed- or open-loop runs without works (``kv``, ``kv-set``). The probe's step with the highest
    works/s is the measurement the light-load-only fit is checked against.
    """
    points = [p for p in (load_point(r) for r in runs) if p is not None]
    work_pts = [p for p in points if p.works_per_s > 0]
    op_pts = [p for p in points if p.works_per_s == 0 and p.requests_per_s > 0 and p.workload in ("kv", "kv-set")]
    probe_pts = [p for p in work_pts if p.workload == PROBE_WORKLOAD and p.closed_loop]
    light_pts = [p for p in work_pts if p not in probe_pts]

    works = fit_work_model(work_pts) if work_pts else default_work_model("no run completed works")
    ops = fit_cpu_model([p.requests_per_s for p in op_pts], [p.utilization for p in op_pts], "op") \
        if op_pts else default_op_model("no kv or kv-set run among the runs")
    light = fit_work_model(light_pts) if light_pts else None
    probe = max(probe_pts, key=lambda p: p.works_per_s) if probe_pts else None
    ids = [p.run_id for p in points]
    return Ceilings(works, ops, light, probe, ("measured: " + ", ".join(ids)) if ids else "default")
