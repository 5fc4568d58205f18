"""What-ifs on the drivers that matter: each case played against the RECOMMENDED maxmemory, and re-sized.

The recommendation sizes maxmemory for the target's mass operation (a reindex, in practice: it dominates
the dataset). The what-ifs change one driver at a time and report, from the same models and measured
parameters as the recommendation (``analysis.sizing.estimate``): the peak backlog (works), the peak
memory (used_memory, bytes), the margin left under maxmemory or the time of OOM (s from the start of the
event), the time the queue is empty again, the live-indexing lag, and the maxmemory / node RAM a re-sizing
would ask for. Cases (:func:`what_ifs`):

- reindex size ×1, ×2, ×5 (``mass_operation.documents``);
- indexing speed ×0.5 (``mass_operation.processing_ms`` ×2: μ halves);
- Elasticsearch down during the reindex: nothing in ``elasticSearchIndexing`` is consumed (buckets and
  live IndexingWorkers pile up), the other queues still run; time to OOM;
- all consumers stopped, no mass operation: every work arriving stays; time to OOM;
- growth horizon: the reindex of the repository grown for 1 and 3 years at
  ``mass_operation.documents_growth_per_year`` (none when the target gives no rate);
- the largest mass operation the recommended maxmemory absorbs (bisection on its works);
- the steady load ×2 (docs/s), to show how little it matters next to the reindex.

Memory of pending works is the calibrated memory model (``analysis.sizing.queue_bytes``) at the backlog
model's breakpoints (exact: both counts are linear between them). ``analysis.sizing.size`` runs the
what-ifs with the measured parameters and layout it used, through an :class:`Engine` it builds
(``analysis.sizing.what_if_engine``): this module never imports the sizing engine (no import cycle).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import numpy as np

from analysis import memory as mem
from analysis.targets import TargetLoad

REINDEX_FACTORS = (1.0, 2.0, 5.0)
SLOWDOWN = 0.5  # indexing speed factor
GROWTH_YEARS = (1, 3)
STEADY_FACTOR = 2.0
MAX_DOCUMENTS = 1e12  # the target files' own bound on mass_operation.documents (rcapcore.validate)


@dataclass(frozen=True)
class WhatIf:
    """One case against the recommended maxmemory. Bytes, seconds, works; None = does not apply (see
    ``note``). ``oom_t_s``: seconds from the start of the event until used_memory reaches maxmemory."""

    label: str
    driver: str  # the target field changed (``-`` for an event)
    change: str  # what changed, in the target's units
    maxmemory_bytes: float  # the recommended maxmemory the case is played against
    peak_backlog_works: float | None  # the mass operation's works pending (no mass operation: all works)
    peak_memory_bytes: float | None  # used_memory at the peak (uncapped: what the case would need)
    headroom_bytes: float | None  # maxmemory − peak memory (None: OOM)
    oom_t_s: float | None
    drained_t_s: float | None  # the queue is empty again (s from the start)
    live_lag_max_s: float | None
    maxmemory_needed_bytes: float | None  # the same sizing re-run for the case (None: no finite answer)
    node_ram_needed_bytes: float | None
    documents: int | None = None  # the mass operation's documents in this case
    works: int | None = None
    note: str = ""
    live_waiting_works: float | None = None  # live IndexingWorkers waiting behind it in the same queue, at most

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Engine:
    """The sizing engine's models with the recommendation's measured parameters and server layout."""

    estimate: Callable[[TargetLoad], Any]  # target → ``analysis.sizing.Estimates``
    node_ram_bytes: Callable[[TargetLoad, Any], float]  # (target, its Estimates) → RAM per data node
    queue_bytes: Callable[[TargetLoad, Any, float, float], float]  # (target, Traffic, mass works, live works)
    layout: mem.RedisLayout
    memory_scale: float  # the runs' memory calibration (1 without runs)


@dataclass(frozen=True)
class _Base:
    """What every case shares: the recommendation's inputs and answers."""

    target: TargetLoad
    engine: Engine
    models: Any  # analysis.sizing.Estimates of the target as given
    maxmemory_bytes: float

    @property
    def steady_dataset_bytes(self) -> float:
        """used_memory without any mass operation: empty Redis + steady works + KV keys."""
        return self.models.memory.dataset_bytes - self.models.mass.peak_bytes


def what_ifs(target: TargetLoad, engine: Engine, models: Any, maxmemory_bytes: float) -> list[WhatIf]:
    """The what-ifs of ``target`` (module docstring) against ``maxmemory_bytes``, ``models`` being the
    target's ``analysis.sizing.Estimates`` (what the recommendation was sized from)."""
    base = _Base(target, engine, models, maxmemory_bytes)
    out: list[WhatIf] = []
    mo = target.mass_operation
    if mo is not None:
        for f in REINDEX_FACTORS:
            docs = int(round(mo.documents * f))
            t2 = target if docs == mo.documents else _with_documents(target, docs)
            out.append(_play(base, t2, f"reindex ×{f:g}", "mass_operation.documents",
                             f"{mo.documents:,} → {docs:,} documents" if f != 1 else f"{docs:,} documents (as given)"))
        slow = replace(target, mass_operation=replace(mo, processing_ms=mo.processing_ms / SLOWDOWN))
        out.append(_play(base, slow, f"indexing speed ×{SLOWDOWN:g}", "mass_operation.processing_ms",
                         f"{mo.processing_ms:,.0f} → {mo.processing_ms / SLOWDOWN:,.0f} ms per work"))
        out.append(_indexing_down(base))
    out.append(_consumers_stopped(base))
    if mo is not None:
        out += _growth(base)
        out.append(_largest(base))
    scaled = target.scaled(STEADY_FACTOR)
    unit = "docs/s" if target.business is not None else "steady rates"
    out.append(_play(base, scaled, f"{unit} ×{STEADY_FACTOR:g}", "business.docs_per_s" if target.business
                     else "redis.*_per_s", f"steady load ×{STEADY_FACTOR:g}, mass operation unchanged"))
    return out


def _with_documents(target: TargetLoad, documents: int) -> TargetLoad:
    return replace(target, mass_operation=replace(target.mass_operation, documents=documents))


def _crossing(t_s: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """First time the piecewise-linear ``y(t)`` reaches ``level`` (None: never)."""
    over = np.nonzero(y >= level)[0]
    if not len(over):
        return None
    i = int(over[0])
    return float(t_s[0]) if i == 0 else float(np.interp(level, [y[i - 1], y[i]], [t_s[i - 1], t_s[i]]))


def _play(base: _Base, t2: TargetLoad, label: str, driver: str, change: str, note: str = "") -> WhatIf:
    """Re-estimate with ``t2``: its timeline against the recommended maxmemory, and its own re-sizing."""
    e2 = base.models if t2 is base.target else base.engine.estimate(t2)
    peak = e2.memory.dataset_bytes
    mo, s = t2.mass_operation, e2.mass.summary
    oom = drained = lag = backlog = live = None
    if s is not None:
        tl = e2.mass.timeline
        oom = _crossing(tl["t_s"].to_numpy(float), peak - e2.mass.peak_bytes + tl["queue_bytes"].to_numpy(float),
                        base.maxmemory_bytes)
        drained, lag, backlog = s["drained_t_s"], s.get("live_lag_max_s"), s["peak_backlog"]
        live = s.get("peak_live_waiting_works") or None
    return WhatIf(label, driver, change, base.maxmemory_bytes, backlog, peak,
                  None if oom is not None else base.maxmemory_bytes - peak, oom, drained,
                  lag if lag else None, e2.memory.recommendation.maxmemory_bytes, base.engine.node_ram_bytes(t2, e2),
                  mo.documents if mo else None, math.ceil(mo.documents / mo.docs_per_work) if mo else None, note,
                  live)


def _first_t(memory_at: Callable[[float], float], level: float, t_hi: float | None) -> float | None:
    """First t in [0, t_hi] with ``memory_at(t) >= level`` (nondecreasing), to 0.1 s; ``t_hi`` None: grows
    without bound (doubled until reached)."""
    lo, hi = 0.0, t_hi if t_hi is not None else 60.0
    if t_hi is None:
        while memory_at(hi) < level:
            lo, hi = hi, hi * 2
            if hi > 1e9:
                return None
    elif memory_at(hi) < level:
        return None
    while hi - lo > 0.1:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if memory_at(mid) < level else (lo, mid)
    return hi


def _indexing_down(base: _Base) -> WhatIf:
    """Elasticsearch down from the start of the reindex: every bucket and live IndexingWorker stays in
    ``elasticSearchIndexing`` (none consumed); the other queues still run."""
    target, traffic, s = base.target, base.models.traffic, base.models.mass.summary
    mo = target.mass_operation
    lam_m, lam_l = s["arrival_works_per_s"], s["live_indexing_works_per_s"]
    works = s["works"]
    t_sched = works / lam_m

    def pending(t: float) -> tuple[float, float]:
        return lam_m * min(t, t_sched), lam_l * t

    def memory_at(t: float) -> float:
        return base.steady_dataset_bytes + base.engine.queue_bytes(target, traffic, *pending(t))

    oom = _first_t(memory_at, base.maxmemory_bytes, None if lam_l > 0 else t_sched)
    assumption = ("assumed: Elasticsearch down from the start of the reindex, nothing in elasticSearchIndexing "
                  "consumed (all buckets scheduled, live IndexingWorkers still arriving), the other queues run")
    if oom is None:  # no live indexing: all buckets held
        peak = memory_at(t_sched)
        return WhatIf("Elasticsearch down during the reindex", "-", "elasticSearchIndexing not consumed",
                      base.maxmemory_bytes, float(works), peak, base.maxmemory_bytes - peak, None, None, None,
                      None, None, mo.documents, works, assumption + "; all buckets fit")
    m, lv = pending(oom)
    return WhatIf("Elasticsearch down during the reindex", "-", "elasticSearchIndexing not consumed",
                  base.maxmemory_bytes, m, base.maxmemory_bytes, None, oom, None, None, None, None,
                  mo.documents, works, assumption + "; live documents are not indexed until it is back; "
                  "no finite maxmemory holds an outage of any length", lv or None)


def _consumers_stopped(base: _Base) -> WhatIf:
    """No mass operation, every consumer stopped: all works keep arriving (works/s) and stay, from the
    steady dataset up to maxmemory."""
    traffic, scale = base.models.traffic, base.engine.memory_scale
    rate = traffic.works_per_s
    label, change = "all consumers stopped, no mass operation", f"{rate:,.1f} works/s kept, none consumed"
    note = "assumed: every queue's consumers stopped (e.g. workers paused), scheduling goes on"
    if rate <= 0:
        return WhatIf(label, "-", change, base.maxmemory_bytes, 0.0, base.steady_dataset_bytes,
                      base.maxmemory_bytes - base.steady_dataset_bytes, None, None, None, None, None,
                      note=note + "; no works arrive")
    shape = mem.WorkShape(int(round(traffic.mean_payload_bytes)) or 1)
    steady_n = int(math.ceil(traffic.steady_pending_works))
    steady = base.models.memory.parts["steady works"]
    room = base.maxmemory_bytes - base.steady_dataset_bytes

    def extra(n: int) -> float:  # memory of n more pending works on top of the steady ones
        return scale * mem.pending_works_bytes(steady_n + n, shape, base.engine.layout) - steady

    lo, hi = 0, 1024
    while extra(hi) < room:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if extra(mid) < room else (lo, mid)
    return WhatIf(label, "-", change, base.maxmemory_bytes, float(hi), base.maxmemory_bytes, None, hi / rate,
                  None, None, None, None, note=note + "; no finite maxmemory holds a stop of any length")


def _growth(base: _Base) -> list[WhatIf]:
    mo = base.target.mass_operation
    g = mo.documents_growth_per_year
    if g is None:
        return [WhatIf("growth horizon", "mass_operation.documents_growth_per_year", "no growth rate given",
                       base.maxmemory_bytes, None, None, None, None, None, None, None, None,
                       note="no growth rate given")]
    out = []
    for years in GROWTH_YEARS:
        docs = int(round(mo.documents * (1 + g) ** years))
        out.append(_play(base, _with_documents(base.target, docs), f"reindex in {years} year" + ("s" * (years > 1)),
                         "mass_operation.documents_growth_per_year",
                         f"{mo.documents:,} × (1 + {g:g})^{years} = {docs:,} documents"))
    return out


def _largest(base: _Base) -> WhatIf:
    """The largest mass operation (in whole works) whose peak stays below the recommended maxmemory."""
    target = base.target
    mo = target.mass_operation

    def fits(works: int) -> bool:
        return base.engine.estimate(_with_documents(target, works * mo.docs_per_work)).memory.dataset_bytes \
            < base.maxmemory_bytes

    lo, hi = 0, max(1, math.ceil(mo.documents / mo.docs_per_work))
    while fits(hi):
        lo, hi = hi, hi * 2
        if hi * mo.docs_per_work > MAX_DOCUMENTS:  # consumed as fast as scheduled: no size reaches maxmemory
            return WhatIf("largest mass operation absorbed", "mass_operation.documents", "no limit",
                          base.maxmemory_bytes, None, None, None, None, None, None, None, None,
                          note=f"no limit: even {lo * mo.docs_per_work:,} documents stay below maxmemory "
                               "(works consumed as fast as they are scheduled)")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    if lo == 0:
        return WhatIf("largest mass operation absorbed", "mass_operation.documents", "none fits",
                      base.maxmemory_bytes, None, None, None, None, None, None, None, None, 0, 0,
                      note="even one work of the mass operation does not fit under maxmemory")
    docs = lo * mo.docs_per_work
    return _play(base, _with_documents(target, docs), "largest mass operation absorbed", "mass_operation.documents",
                 f"{docs:,} documents = {lo:,} works (×{docs / mo.documents:.2f} the target's)",
                 note="the next work would reach maxmemory")
