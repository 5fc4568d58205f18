"""WorkManager backlog dynamics during a mass operation: fluid queue with piecewise-constant arrivals.

Arrivals λ(t) (works/s) are piecewise constant; consumption capacity μ = threads × nodes / processing time
(works/s). The backlog B (pending works) grows at λ − μ while positive; running works hold their data too
(all threads busy while B > 0, else λ × processing time by Little's law). Memory = base + bytes per work ×
(B + running). Once memory reaches maxmemory, Redis refuses the scheduling script (OOM under
``noeviction``): B stops growing and the excess arrivals are lost.

Two Nuxeo facts shape the inputs (spec Corrections 4 and 10): scheduling is serialized per queue per node
(a lock around one round trip), so λ ≤ nodes × queues / RTT (:func:`scheduling_cap_per_s`, applied by
:func:`mass_operation`); and live ``IndexingWorker`` works share ``elasticSearchIndexing`` with the reindex
buckets. The queue is one FIFO list: a live work waits behind every bucket scheduled before it, so with
``live_works_per_s`` > 0 :func:`simulate` runs the queue in thread-seconds (the pending processing time)
and splits what is pending into buckets and live works by arrival time; the live works waiting there hold
memory too (``live_bytes_per_work``). :func:`live_lag` gives how long a live work waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rcapcore.errors import BadInput


@dataclass(frozen=True)
class BacklogInput:
    """``phases``: ``(start_s, works_per_s)`` pairs, sorted, the last rate lasting until ``horizon_s``.
    ``bytes_per_work``: Redis memory per pending work (bytes); ``base_bytes``: used_memory before;
    ``maxmemory_bytes``: None = unlimited."""

    phases: tuple[tuple[float, float], ...]
    threads_per_node: int
    nodes: int
    processing_s: float
    bytes_per_work: float
    base_bytes: float = 0.0
    maxmemory_bytes: float | None = None
    initial_backlog: float = 0.0
    horizon_s: float | None = None
    live_works_per_s: float = 0.0  # other works in the same queue (live indexing), not in ``phases``
    live_processing_s: float = 0.0
    live_bytes_per_work: float = 0.0  # Redis memory per live work waiting in the queue (bytes)

    def __post_init__(self) -> None:
        if not self.phases:
            raise BadInput("a backlog needs at least one arrival phase")
        starts = [p[0] for p in self.phases]
        if starts != sorted(starts) or any(r < 0 for _, r in self.phases):
            raise BadInput("arrival phases must be sorted by start time with rates >= 0")
        if self.threads_per_node < 1 or self.nodes < 1 or self.processing_s <= 0:
            raise BadInput("threads, nodes and processing time must be positive")
        if self.live_works_per_s < 0 or self.live_processing_s < 0 or self.live_bytes_per_work < 0:
            raise BadInput("live works, their processing time and their bytes must be >= 0")

    @property
    def live_threads(self) -> float:
        """Threads the live works of the same queue keep busy (λ_live × S_live), capped at all threads."""
        return min(self.live_works_per_s * self.live_processing_s, float(self.threads_per_node * self.nodes))

    @property
    def service_rate_per_s(self) -> float:
        """μ in works/s: the threads the live works leave, over the processing time."""
        return (self.threads_per_node * self.nodes - self.live_threads) / self.processing_s


@dataclass
class BacklogResult:
    """Exact breakpoints of the fluid model and the headline figures (seconds, works, bytes)."""

    points: pd.DataFrame  # t_s, arrival_per_s, backlog, live_pending, running, memory_bytes, lost
    peak_backlog: float
    peak_t_s: float
    peak_memory_bytes: float
    drained_t_s: float | None  # first time the backlog is back to 0 after its peak (None: never)
    oom_t_s: float | None  # first time maxmemory is reached (None: never)
    lost_works: float
    service_rate_per_s: float
    notes: list[str] = field(default_factory=list)
    peak_live_waiting: float = 0.0  # live works of the same queue waiting behind the mass operation, at most

    @property
    def time_to_drain_s(self) -> float | None:
        return None if self.drained_t_s is None else self.drained_t_s - self.peak_t_s

    def at(self, t_s: float) -> dict[str, float]:
        """Backlog and memory at ``t_s`` (linear between breakpoints, which is exact here)."""
        p = self.points.drop_duplicates("t_s", keep="last")
        return {c: float(np.interp(t_s, p["t_s"], p[c])) for c in ("backlog", "memory_bytes")}

    def to_dict(self) -> dict:
        return {"peak_backlog": self.peak_backlog, "peak_t_s": self.peak_t_s,
                "peak_memory_bytes": self.peak_memory_bytes, "drained_t_s": self.drained_t_s,
                "time_to_drain_s": self.time_to_drain_s, "oom_t_s": self.oom_t_s, "lost_works": self.lost_works,
                "service_rate_per_s": self.service_rate_per_s, "notes": self.notes,
                "peak_live_waiting_works": self.peak_live_waiting}


def simulate(inp: BacklogInput) -> BacklogResult:
    """Walk the phases, splitting each where the backlog empties or memory hits maxmemory. With live works
    in the same queue: :func:`_simulate_shared` (FIFO)."""
    if inp.live_works_per_s > 0:
        return _simulate_shared(inp)
    mu = inp.service_rate_per_s
    threads = inp.threads_per_node * inp.nodes
    bpw = inp.bytes_per_work
    cap = None
    if inp.maxmemory_bytes is not None and bpw > 0:
        cap = max(0.0, (inp.maxmemory_bytes - inp.base_bytes) / bpw - threads)  # backlog at maxmemory
    last_start, last_rate = inp.phases[-1]
    horizon = inp.horizon_s
    if horizon is None:  # long enough to drain what the phases leave behind
        peak_guess = inp.initial_backlog + sum(
            max(0.0, r - mu) * ((inp.phases[i + 1][0] if i + 1 < len(inp.phases) else last_start) - s)
            for i, (s, r) in enumerate(inp.phases))
        horizon = last_start + (peak_guess / (mu - last_rate) * 1.05 + 1 if last_rate < mu else 3600)
    ends = [p[0] for p in inp.phases[1:]] + [horizon]

    def running(b: float, lam: float) -> float:
        return float(threads) if b > 0 or lam >= mu else lam * inp.processing_s

    rows = []
    b = inp.initial_backlog
    lost = 0.0
    t = inp.phases[0][0]
    oom_t = None

    def emit(t_, lam, b_):
        rows.append({"t_s": t_, "arrival_per_s": lam, "backlog": b_, "live_pending": 0.0,
                     "running": running(b_, lam),
                     "memory_bytes": inp.base_bytes + bpw * (b_ + running(b_, lam)), "lost": lost})

    for (start, lam), end in zip(inp.phases, ends):
        t = start
        emit(t, lam, b)
        while t < end:
            slope = lam - mu
            if cap is not None and b >= cap - 1e-9 and slope >= 0:
                oom_t = t if oom_t is None else oom_t
                lost += slope * (end - t)
                b, t = cap, end
            elif slope > 0 and cap is not None and b + slope * (end - t) > cap:
                t_hit = t + (cap - b) / slope
                b, t = cap, t_hit
                oom_t = t if oom_t is None else oom_t
            elif slope < 0 and b > 0 and b + slope * (end - t) < 0:
                t, b = t + b / -slope, 0.0
            else:
                b = max(0.0, b + slope * (end - t)) if (b > 0 or slope > 0) else 0.0
                t = end
            emit(t, lam, b)
    df = pd.DataFrame(rows).drop_duplicates(ignore_index=True)
    i_peak = int(df["backlog"].idxmax())
    peak_t = float(df.loc[i_peak, "t_s"])
    after = df[(df["t_s"] > peak_t) & (df["backlog"] <= 1e-9)]
    drained = float(after["t_s"].iloc[0]) if len(after) and df.loc[i_peak, "backlog"] > 0 else None
    notes = []
    if oom_t is not None:
        notes.append(f"maxmemory reached at t={oom_t:.0f} s: new works fail with OOM ({lost:.0f} lost)")
    if drained is None and df.loc[i_peak, "backlog"] > 0:
        notes.append("the backlog does not drain within the horizon")
    return BacklogResult(df, float(df["backlog"].max()), peak_t, float(df["memory_bytes"].max()), drained,
                         oom_t, lost, mu, notes)


def _simulate_shared(inp: BacklogInput) -> BacklogResult:
    """The mass operation and live works in one FIFO queue (spec Corrections 10).

    The pending processing time W(t) (thread-seconds) is the fluid queue of :func:`simulate` with arrivals
    λ(t)·S + λ_live·S_live and capacity = threads; a work arriving at s starts at D(s) = s + W(s)/threads.
    At t the queue holds what arrived after s*(t) = max{s : D(s) <= t}: A(t) − A(s*) mass works
    (``backlog``) and λ_live·(t − s*) live works (``live_pending``). Both are linear between the breakpoints of W and their images by D, so
    evaluating there is exact. Memory = base + bytes_per_work × (mass pending + running) + live_bytes_per_work
    × live pending (running live works belong to the steady state). Not capped: maxmemory gives the first
    time it is reached and ``lost_works`` an upper bound (arrivals while the uncapped memory is above it)."""
    threads = inp.threads_per_node * inp.nodes
    s_m, lam_l = inp.processing_s, inp.live_works_per_s
    work = simulate(BacklogInput(tuple((t, r * s_m + lam_l * inp.live_processing_s) for t, r in inp.phases),
                                 inp.threads_per_node, inp.nodes, 1.0, bytes_per_work=0.0,
                                 initial_backlog=inp.initial_backlog * s_m, horizon_s=inp.horizon_s))
    wp = work.points.drop_duplicates("t_s", keep="last")
    s_k, w_k = wp["t_s"].to_numpy(float), wp["backlog"].to_numpy(float)
    d_k = s_k + w_k / threads  # start time of a work arriving at s_k: nondecreasing (W falls at most at rate c)
    t0, horizon = s_k[0], s_k[-1]
    ts = np.unique(np.concatenate([s_k, d_k[d_k <= horizon]]))
    starts = np.array([p[0] for p in inp.phases], float)
    rates = np.array([p[1] for p in inp.phases], float)
    cum = np.concatenate([[0.0], np.cumsum(rates[:-1] * np.diff(starts))])

    def arrived(x: np.ndarray) -> np.ndarray:  # mass works scheduled in [t0, x]
        i = np.clip(np.searchsorted(starts, x, side="right") - 1, 0, None)
        return cum[i] + rates[i] * np.maximum(x - starts[i], 0.0)

    j = np.searchsorted(d_k, ts, side="right")  # d_k[j-1] <= t < d_k[j]
    k = np.clip(j - 1, 0, len(s_k) - 2)
    span = d_k[k + 1] - d_k[k]
    frac = np.where(span > 0, (ts - d_k[k]) / np.where(span > 0, span, 1.0), 1.0)
    s_star = np.where(j == 0, t0, np.where(j >= len(s_k), s_k[-1], s_k[k] + np.clip(frac, 0, 1) * (s_k[k + 1] - s_k[k])))
    initial_left = np.maximum(0.0, inp.initial_backlog - (ts - t0) * threads / s_m) * (j == 0)
    mass = np.maximum(0.0, arrived(ts) - arrived(s_star)) + initial_left
    live = lam_l * np.maximum(0.0, ts - s_star)
    w_t = np.interp(ts, s_k, w_k)
    lam_t = rates[np.clip(np.searchsorted(starts, ts, side="right") - 1, 0, None)]
    busy = (w_t > 1e-9) | (lam_t * s_m + lam_l * inp.live_processing_s >= threads)
    running = np.where(busy, float(threads), lam_t * s_m)
    memory = inp.base_bytes + inp.bytes_per_work * (mass + running) + inp.live_bytes_per_work * live
    oom_t, lost = None, 0.0
    if inp.maxmemory_bytes is not None:
        over = memory >= inp.maxmemory_bytes
        if over.any():
            i = int(np.argmax(over))
            oom_t = float(ts[i]) if i == 0 else float(np.interp(
                inp.maxmemory_bytes, [memory[i - 1], memory[i]], [ts[i - 1], ts[i]]))
            back = np.nonzero(~over[i:])[0]
            t_back = float(ts[i + back[0]]) if len(back) else float(ts[-1])
            lost = float(arrived(np.array([t_back]))[0] - arrived(np.array([oom_t]))[0] + lam_l * (t_back - oom_t))
    df = pd.DataFrame({"t_s": ts, "arrival_per_s": lam_t, "backlog": mass, "live_pending": live,
                       "running": running, "memory_bytes": memory, "lost": 0.0})
    i_peak = int(np.argmax(mass))
    peak_t = float(ts[i_peak])
    after = np.nonzero((ts > peak_t) & (mass + live <= 1e-9))[0]  # drained: the whole queue is empty
    drained = float(ts[after[0]]) if len(after) and mass[i_peak] > 0 else None
    notes = [f"live works share the queue (FIFO): up to {live.max():,.0f} wait behind the mass operation"]
    if oom_t is not None:
        notes.append(f"maxmemory reached at t={oom_t:.0f} s: new works fail with OOM (at most {lost:.0f} lost)")
    if drained is None and mass[i_peak] > 0:
        notes.append("the backlog does not drain within the horizon")
    return BacklogResult(df, float(mass.max()), peak_t, float(memory.max()), drained, oom_t, lost,
                         inp.service_rate_per_s, notes, float(live.max()))


def scheduling_cap_per_s(nodes: int, queues: int, rtt_s: float) -> float:
    """Highest scheduling rate (works/s): one ``scheduling-work`` round trip at a time per queue per node
    (``RedisBlockingQueue`` locks around it, spec Corrections 4)."""
    if nodes < 1 or queues < 1 or rtt_s <= 0:
        raise BadInput("nodes, queues and the round-trip time must be positive")
    return nodes * queues / rtt_s


def mass_operation(documents: int, docs_per_work: int, schedule_docs_per_s: float, start_s: float = 0.0,
                   background_works_per_s: float = 0.0,
                   max_works_per_s: float | None = None) -> tuple[tuple[float, float], ...]:
    """Arrival phases of a mass operation (e.g. a reindex scheduling one work per ``docs_per_work``
    documents at the scroller's speed) on top of a steady background rate. ``max_works_per_s`` (see
    :func:`scheduling_cap_per_s`) slows the scheduling down: the same works arrive over a longer time."""
    if documents <= 0 or docs_per_work <= 0 or schedule_docs_per_s <= 0:
        raise BadInput("mass operation size, docs per work and scheduling rate must be positive")
    if max_works_per_s is not None:
        schedule_docs_per_s = min(schedule_docs_per_s, max_works_per_s * docs_per_work)
    duration = documents / schedule_docs_per_s
    rate = schedule_docs_per_s / docs_per_work + background_works_per_s
    phases = [(start_s, rate), (start_s + duration, background_works_per_s)]
    if start_s > 0:
        phases.insert(0, (0.0, background_works_per_s))
    return tuple(phases)


@dataclass
class LiveLag:
    """How long a live work of the shared queue waits behind the mass operation (FIFO), in seconds."""

    points: pd.DataFrame  # t_s, lag_s
    max_lag_s: float
    max_t_s: float
    lagging_s: float  # time during which the lag exceeds ``threshold_s``
    threshold_s: float


def live_lag(inp: BacklogInput, threshold_s: float = 1.0) -> LiveLag:
    """Queue wait of a live work arriving at t: the pending processing time ahead of it (thread-seconds)
    over the threads. The same fluid model, counted in thread-seconds instead of works."""
    threads = inp.threads_per_node * inp.nodes
    live = inp.live_works_per_s * inp.live_processing_s
    work = BacklogInput(tuple((t, r * inp.processing_s + live) for t, r in inp.phases), inp.threads_per_node,
                        inp.nodes, 1.0, bytes_per_work=0.0, initial_backlog=inp.initial_backlog * inp.processing_s,
                        horizon_s=inp.horizon_s)
    res = simulate(work)
    pts = pd.DataFrame({"t_s": res.points["t_s"], "lag_s": res.points["backlog"] / threads})
    i = int(pts["lag_s"].idxmax())
    # the lag is piecewise linear: time above the threshold from the crossings of each segment
    above = 0.0
    t, y = pts["t_s"].to_numpy(), pts["lag_s"].to_numpy()
    for k in range(len(t) - 1):
        t0, t1, y0, y1 = t[k], t[k + 1], y[k], y[k + 1]
        if y0 <= threshold_s and y1 <= threshold_s:
            continue
        if y0 > threshold_s and y1 > threshold_s:
            above += t1 - t0
        else:
            cross = t0 + (threshold_s - y0) / (y1 - y0) * (t1 - t0)
            above += (t1 - cross) if y1 > threshold_s else (cross - t0)
    return LiveLag(pts, float(y[i]), float(t[i]), above, threshold_s)
