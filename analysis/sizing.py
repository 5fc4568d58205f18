"""The sizing engine: a target load → memory, CPU, network, disk, topology and instance recommendations.

``size(target, runs=[...])`` returns a :class:`Recommendation`; ``.to_dict()`` is ``sizing.json`` and
``.table()`` the text shown by ``rcap size``. ``size`` composes one estimator per model, each returning a
dataclass: :func:`traffic_of` (what Redis sees), :func:`estimate_mass_operation` (backlog model),
:func:`estimate_memory`, :func:`estimate_cpu` (main-thread ceilings), :func:`estimate_network`
(``analysis.network.node_traffic``), :func:`estimate_disk` and :func:`estimate_topology` (topology rules and
instance types); :func:`estimate` runs the first five for one target, server layout and measured parameters. Without runs, documented defaults are used (the output says
so); with runs, measured parameters replace them (service demand, fragmentation, memory calibration).
Units: bytes, µs, per second; RAM figures in the table in GiB.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

from analysis import ha, keyscans
from analysis import memory as mem
from analysis import network as net
from analysis import servers
from analysis import throughput as tp
from analysis.backlog import BacklogInput, live_lag, mass_operation, scheduling_cap_per_s, simulate
from analysis.catalog import candidates, load_catalog
from analysis.runs import load_sweep
from analysis.targets import TargetLoad
from analysis.validation import memory_observations
from analysis.whatif import Engine, what_ifs
from rcapcore.errors import BadInput
from rcapcore.rundata import SWEEP
from rcapcore.topologies import facts

GIB = 1024 ** 3
BASE_USED_MEMORY_BYTES = 1 * mem.MIB  # an empty Redis 7 (≈ 0.9 MB used_memory at start)
POLL_WAIT_S = 0.5  # mean wait of a work for an idle thread's 1 s ± 0.2 s poll (spec §1.4)
KV_KEY_BYTES = 40


@dataclass
class Traffic:
    """What Redis sees (per second) and the WorkManager queues' pending works in steady state."""

    works_per_s: float
    ops_per_s: float  # all round trips, works included (4 EVALSHA each)
    mean_payload_bytes: float
    steady_pending_works: float
    publishes_per_s: float
    pubsub_deliveries_per_s: float
    pubsub_message_bytes: float
    subscribers: int
    kv_keys: int
    kv_value_bytes: int
    kv_ttl: bool
    clients: int  # command connections (PubSub ones are ``subscribers``)
    notes: list[str] = field(default_factory=list)
    nuxeo_version: str | None = None  # the Nuxeo version modelled (None: Redis-level target)
    evalsha_per_work: float = 4.0  # lifecycle EVALSHAs + worker re-polls (spec Corrections 3)
    live_indexing_works_per_s: float = 0.0  # IndexingWorkers into elasticSearchIndexing
    live_indexing_payload_bytes: float = 0.0  # their mean serialized size


def traffic_of(target: TargetLoad) -> Traffic:
    """Redis-level traffic: from ``rcapcore.nuxeo.mix.derive_mix`` for business targets, as given otherwise.
    Connections: Nuxeo's real pool per node (spec Corrections 8: 16 with the PubSub one, 8 on Sentinel)."""
    from rcapcore.nuxeo.pool import node_pool  # noqa: PLC0415

    pool = node_pool(target.deployment.topology)
    if target.business is not None:
        from rcapcore.nuxeo.mix import derive_mix  # noqa: PLC0415

        b = target.business  # the one BusinessLoad: no mapping, nothing dropped
        mix = derive_mix(b)
        works = mix.works_per_s
        payload = (sum(q.works_per_s * q.payload_bytes for q in mix.queues) / works) if works else 0.0
        pending = sum(q.works_per_s * (b.work_processing_ms / 1000 + POLL_WAIT_S) for q in mix.queues)
        msg = (sum(c.messages_per_s * c.message_bytes for c in mix.channels) / mix.publishes_per_s
               if mix.publishes_per_s else 0.0)
        indexing = [q for q in mix.queues if q.work_type == "indexing"]
        live = sum(q.works_per_s for q in indexing)
        live_payload = sum(q.works_per_s * q.payload_bytes for q in indexing) / live if live else 0.0
        return Traffic(works, mix.ops_per_s, payload, pending, mix.publishes_per_s, mix.deliveries_per_s, msg,
                       b.nodes, b.kv_keys, b.kv_value_bytes, b.kv_ttl,
                       b.nodes * pool.command_connections, list(mix.notes), mix.load.nuxeo_version,
                       mix.evalsha_per_work, live, live_payload)
    r = target.redis
    assert r is not None
    pending = r.works_per_s * (r.work_processing_ms / 1000 + POLL_WAIT_S)
    ops = 4 * r.works_per_s + r.kv_ops_per_s + r.pubsub_messages_per_s + r.worker_threads  # idle polls ≈ 1/s/thread
    return Traffic(r.works_per_s, ops, r.work_payload_bytes, pending, r.pubsub_messages_per_s,
                   r.pubsub_messages_per_s * r.pubsub_subscribers, r.pubsub_message_bytes, r.pubsub_subscribers,
                   r.kv_keys, r.kv_value_bytes, r.kv_ttl, max(r.pubsub_subscribers, 1) * pool.command_connections)


@dataclass
class Measured:
    """Parameters measured on runs (None = not measured: documented default used)."""

    demand: tp.ServiceDemand
    fragmentation_ratio: float | None = None
    memory_scale: float = 1.0
    memory_scale_ci: tuple[float, float] = (1.0, 1.0)
    source: str = "documented defaults (no runs given)"
    latency_points: list[tuple[float, float, int]] = field(default_factory=list)  # (ops/s, p99 µs, requests)
    ceilings: tp.Ceilings | None = None  # CPU per work / per op as a function of load (None: documented defaults)


def measured_from_runs(runs: Sequence | None) -> Measured:
    """Service demand, fragmentation and the memory calibration from ``analysis.runs.Run`` objects."""
    if not runs:
        return Measured(tp.default_demand())
    demand = tp.demand_from_runs(_with_sweep_steps(runs))
    frags = [mem.fragmentation_from_samples(r.server["used_memory_rss"], r.server["used_memory"])
             for r in runs if {"used_memory_rss", "used_memory"} <= set(r.server.columns)]
    frags = [f for f in frags if f]
    obs, layout = memory_observations(runs)
    scale, ci = 1.0, (1.0, 1.0)
    if obs:
        cal = mem.calibrate(obs, layout)
        scale, ci = cal.scale, cal.scale_ci
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in _with_sweep_steps(runs):
        total = (r.summary or {}).get("total") or {}
        workload = ((r.manifest or {}).get("scenario") or {}).get("workload") or "?"
        if total.get("ops_per_s") and total.get("p99_us"):
            groups.setdefault(workload, []).append((float(total["ops_per_s"]), float(total["p99_us"]),
                                                    int(total.get("count") or 0)))
    # the knee is read on one workload: the WorkManager's when measured, else the most sampled one
    points = groups.get("workmanager") or max(groups.values(), key=len, default=[])
    try:
        ceilings = tp.ceilings_from_runs(_with_sweep_steps(runs))
    except BadInput:  # runs without usable server samples: documented defaults, said so
        ceilings = None
    return Measured(demand, float(sum(frags) / len(frags)) if frags else None, scale, ci,
                    "measured: " + ", ".join(r.id for r in runs), points, ceilings)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _with_sweep_steps(runs: Sequence) -> list:
    """The runs plus the other complete steps of the sweeps they belong to: the utilization law is
    fitted across a sweep's light steps rather than read off one run."""
    out, seen = [], set()
    for run in runs:
        steps = [run]
        if (run.path.parent / SWEEP).is_file():
            steps = [r for r in load_sweep(run.path.parent).runs if r.status == "complete"] or [run]
        for r in steps:
            if str(r.path) not in seen:
                seen.add(str(r.path))
                out.append(r)
    return out


@dataclass
class Recommendation:
    """Everything ``rcap size`` reports. Memory in bytes, CPU as main-thread utilization (0..1)."""

    target: str
    level: str
    parameters_source: str
    traffic: dict
    memory: dict
    mass_operation: dict | None
    cpu: dict
    network: dict
    disk: dict
    topology: dict
    instances: list[dict]
    what_ifs: list[dict]  # ``analysis.whatif.WhatIf.to_dict()`` per case, against this maxmemory
    flags: list[str]
    assumptions: list[str]
    keys_scans: dict | None = None  # scheduled KEYS (spec Corrections 9), see analysis.keyscans

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """A plain-text summary (what ``rcap size`` prints)."""
        m, c, n, d, t = self.memory, self.cpu, self.network, self.disk, self.topology
        rows = [
            ("target", f"{self.target} ({self.level} level)"),
            ("parameters", self.parameters_source),
            ("Nuxeo version", self.traffic.get("nuxeo_version") or "n/a (Redis-level target)"),
            ("works/s · ops/s", f"{self.traffic['works_per_s']:.1f} · {self.traffic['ops_per_s']:.0f} "
                                f"({self.traffic.get('evalsha_per_work', 4):.2f} EVALSHA per work)"),
            ("dataset peak", f"{_b(m['dataset_bytes'])} (mass operation {_b(m['parts']['mass operation peak'])}, "
                             f"steady works {_b(m['parts']['steady works'])}, KV {_b(m['parts']['kv keys'])})"),
            ("maxmemory", f"{_b(m['maxmemory_bytes'])} (noeviction)"),
            ("node RAM", f"{_b(m['node_ram_bytes'])} per data node"),
            ("main thread", f"{c['utilization_steady']:.0%} steady, {c['utilization_peak']:.0%} peak "
                            f"(limit {c['max_utilization']:.0%}), {c['cpu_us_per_work']:.0f} µs CPU per work here"),
            ("one-shard ceiling", f"{c['ceiling_works_per_s']:,.0f} works/s, {c['ceiling_ops_per_s']:,.0f} ops/s "
                                  "(op = one client request; at 100 % main thread)"),
            ("p99 estimate", ("saturated" if c["p99_estimate_us"] is None else f"{c['p99_estimate_us']:.0f} µs")
                             + f" vs SLO {c['latency_slo_p99_us']:.0f} µs"),
            ("network", f"{n['in_bytes_per_s'] / 1e6:.2f} MB/s in, {n['out_bytes_per_s'] / 1e6:.2f} MB/s out, "
                        f"plan {n['link_gbps']:.2f} Gbit/s"),
            ("disk", f"{d['bytes'] / GIB:.1f} GiB ({d['persistence']})"),
            ("topology", t["summary"]),
        ]
        if self.mass_operation:
            mo = self.mass_operation
            empty = f"t={mo['drained_t_s'] / 60:,.0f} min" if mo["drained_t_s"] is not None else "never"
            rows.append(("mass operation", f"peak memory at t={mo['peak_bytes_t_s']:,.0f} s "
                                           f"({mo['peak_bytes_mass_works']:,.0f} of its works + "
                                           f"{mo['peak_bytes_live_works']:,.0f} live works waiting); peak backlog "
                                           f"{mo['peak_backlog']:,.0f} works at t={mo['peak_t_s']:,.0f} s"
                                           + (f", up to {mo['peak_live_waiting_works']:,.0f} live works waiting"
                                              if mo.get("peak_live_waiting_works") else "")
                                           + f"; queue empty at {empty}"))
            if mo.get("live_indexing_works_per_s"):
                rows.append(("live indexing lag", f"up to {mo['live_lag_max_s'] / 60:.0f} min behind the "
                                                  f"{mo['name']} (> {mo['live_lag_threshold_s']:.0f} s for "
                                                  f"{mo['live_lagging_s'] / 60:.0f} min)"))
        if self.keys_scans:
            ks = self.keys_scans
            rows.append(("KEYS every 15 min", f"{ks['scans_per_period']} scans blocking {ks['blocking_us'] / 1000:.1f} ms "
                                              f"each at {ks['keys']:,.0f} keys (p99 SLO crossed at "
                                              + (f"{ks['keys_at_slo']:,.0f} keys)" if ks["keys_at_slo"] else "0 keys)")))
        for inst in self.instances:
            rows.append((f"{inst['provider']} {inst['service']}", f"{inst['name']} ({inst['memory_gib']:.1f} GiB)"))
        for w in self.what_ifs:
            rows.append((f"if {w['label']}", _what_if_text(w)))
        w = max(len(r[0]) for r in rows)
        lines = [f"{k.ljust(w)}  {v}" for k, v in rows]
        lines += [f"! {f}" for f in self.flags]
        lines += [f"- {a}" for a in self.assumptions]
        return "\n".join(lines)


def _what_if_text(w: dict) -> str:
    """One what-if in a line: its peak against maxmemory, then what a re-sizing would ask for."""
    if w["peak_memory_bytes"] is None:
        return w["note"]
    verdict = (f"OOM at t={w['oom_t_s'] / 60:,.1f} min" if w["oom_t_s"] is not None
               else f"margin {_b(w['headroom_bytes'])}")
    text = f"peak {_b(w['peak_memory_bytes'])}, {verdict}"
    if w["maxmemory_needed_bytes"] is not None:
        text += f"; needs maxmemory {_b(w['maxmemory_needed_bytes'])}"
    return text + (f"; {w['change']}" if w["label"].startswith("largest") else "")


def _b(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB / 4 else f"{n / mem.MIB:.1f} MiB"


def mass_backlog_input(target: TargetLoad, traffic: Traffic, bytes_per_work: float, base_bytes: float = 0.0,
                       maxmemory_bytes: float | None = None, live_bytes_per_work: float = 0.0) -> BacklogInput:
    """The backlog model's input for the target's mass operation: scheduling capped at one round trip per
    queue per node (Corrections 4), live indexing works in the same FIFO queue (Corrections 10), each
    waiting one holding ``live_bytes_per_work`` (``Recommendation.mass_operation["live_bytes_per_work"]``)."""
    mo = target.mass_operation
    assert mo is not None
    nodes = mo.nodes or (target.business.nodes if target.business else 1)
    cap = scheduling_cap_per_s(nodes, 1, mo.scheduling_rtt_ms / 1000)
    live = traffic.live_indexing_works_per_s if mo.live_indexing else 0.0
    live_s = target.business.work_processing_ms / 1000 if target.business else 0.0
    return BacklogInput(mass_operation(mo.documents, mo.docs_per_work, mo.schedule_docs_per_s, max_works_per_s=cap),
                        mo.threads_per_node, nodes, mo.processing_ms / 1000, bytes_per_work, base_bytes=base_bytes,
                        maxmemory_bytes=maxmemory_bytes, live_works_per_s=live, live_processing_s=live_s,
                        live_bytes_per_work=live_bytes_per_work if live else 0.0)


@dataclass
class MassOperationEstimate:
    """The target's mass operation through the backlog model: its peak memory and the rates it adds."""

    summary: dict | None = None  # ``Recommendation.mass_operation`` (None: the target has no mass operation)
    peak_bytes: float = 0.0  # pending works at the peak backlog (bytes, calibrated)
    arrival_works_per_s: float = 0.0  # scheduling rate λ (capped)
    service_works_per_s: float = 0.0  # consumption rate μ
    timeline: object = None  # pandas DataFrame: the backlog model's breakpoints + ``queue_bytes`` (calibrated)


def queue_bytes(target: TargetLoad, traffic: Traffic, measured: Measured, layout: mem.RedisLayout,
                mass_works: float, live_works: float = 0.0) -> float:
    """Calibrated Redis memory (bytes) of ``mass_works`` works of the target's mass operation and
    ``live_works`` live IndexingWorkers pending together in one queue (one data hash, one list)."""
    mo = target.mass_operation
    assert mo is not None
    n_mass, n_live = int(math.ceil(mass_works)), int(math.ceil(live_works))
    if n_mass + n_live == 0:
        return 0.0
    live_payload = traffic.live_indexing_payload_bytes or mo.payload_bytes
    mix = ((n_mass, mo.payload_bytes, mo.payload_sd_bytes),) + (((n_live, live_payload, 0.0),) if n_live else ())
    mean = (n_mass * mo.payload_bytes + n_live * live_payload) / (n_mass + n_live)
    shape = mem.WorkShape(int(round(mean)), payload_mix=tuple((w / (n_mass + n_live), m, sd) for w, m, sd in mix
                                                               if w))
    return measured.memory_scale * mem.pending_works_bytes(n_mass + n_live, shape, layout)


def estimate_mass_operation(target: TargetLoad, traffic: Traffic, measured: Measured,
                            layout: mem.RedisLayout) -> MassOperationEstimate:
    """Simulate the target's mass operation (backlog model: buckets and the live works waiting behind
    them in one FIFO queue) and size the queue at each breakpoint with the memory model: the largest is
    the mass operation's peak."""
    mo = target.mass_operation
    if mo is None:
        return MassOperationEstimate()
    nodes = mo.nodes or (target.business.nodes if target.business else 1)
    per_work = queue_bytes(target, traffic, measured, layout, 100_000) / 100_000
    live_per_work = (queue_bytes(target, traffic, measured, layout, 0, 100_000) / 100_000
                     if traffic.live_indexing_works_per_s else 0.0)
    inp = mass_backlog_input(target, traffic, per_work, live_bytes_per_work=live_per_work)
    res = simulate(inp)
    timeline = res.points[["t_s", "backlog", "live_pending", "running"]].copy()
    timeline["queue_bytes"] = [queue_bytes(target, traffic, measured, layout, m + r, lv)
                               for m, lv, r in zip(timeline["backlog"], timeline["live_pending"],
                                                   timeline["running"])]
    i_peak = int(timeline["queue_bytes"].idxmax())
    mass_bytes = float(timeline.loc[i_peak, "queue_bytes"])
    mass_rate = inp.phases[0][1]
    lag = live_lag(inp)
    summary = {"name": mo.name, **res.to_dict(), "bytes_per_work": per_work, "peak_bytes": mass_bytes,
               "live_bytes_per_work": live_per_work, "peak_bytes_t_s": float(timeline.loc[i_peak, "t_s"]),
               "peak_bytes_mass_works": float(timeline.loc[i_peak, "backlog"] + timeline.loc[i_peak, "running"]),
               "peak_bytes_live_works": float(timeline.loc[i_peak, "live_pending"]),
               "works": math.ceil(mo.documents / mo.docs_per_work), "arrival_works_per_s": mass_rate,
               "requested_works_per_s": mo.schedule_docs_per_s / mo.docs_per_work,
               "scheduling_cap_works_per_s": scheduling_cap_per_s(nodes, 1, mo.scheduling_rtt_ms / 1000),
               "live_indexing_works_per_s": inp.live_works_per_s, "live_lag_max_s": lag.max_lag_s,
               "live_lag_max_t_s": lag.max_t_s, "live_lagging_s": lag.lagging_s,
               "live_lag_threshold_s": lag.threshold_s}
    return MassOperationEstimate(summary, mass_bytes, mass_rate, res.service_rate_per_s, timeline)


@dataclass
class MemoryEstimate:
    """The dataset at its peak, part by part, and the node memory it needs (bytes)."""

    parts: dict  # base, steady works, mass operation peak, kv keys
    overheads: mem.NodeOverheads
    recommendation: mem.MemoryRecommendation

    @property
    def dataset_bytes(self) -> float:
        return self.recommendation.dataset_bytes


def estimate_memory(target: TargetLoad, traffic: Traffic, measured: Measured, layout: mem.RedisLayout,
                    mass: MassOperationEstimate) -> MemoryEstimate:
    """Dataset = empty Redis + steady pending works + KV keys + the mass operation's peak; then maxmemory
    and node RAM with fragmentation, replication, client and fork overheads (``analysis.memory``)."""
    d = target.deployment
    scale = measured.memory_scale
    work_shape = mem.WorkShape(int(round(traffic.mean_payload_bytes)) or 1)
    steady_n = int(math.ceil(traffic.steady_pending_works))
    steady_bytes = scale * mem.pending_works_bytes(steady_n, work_shape, layout) if steady_n else 0.0
    kv_bytes = scale * mem.kv_keys_bytes(traffic.kv_keys, KV_KEY_BYTES, traffic.kv_value_bytes, layout,
                                         ttl=traffic.kv_ttl).total_bytes if traffic.kv_keys else 0.0
    dataset = BASE_USED_MEMORY_BYTES + steady_bytes + kv_bytes + mass.peak_bytes
    overheads = mem.NodeOverheads(
        fragmentation_ratio=measured.fragmentation_ratio or mem.NodeOverheads.fragmentation_ratio,
        replicas=planned_replicas(d), pubsub_subscribers=traffic.subscribers,
        normal_clients=traffic.clients, persistence=d.persistence, headroom=d.headroom)
    parts = {"base": BASE_USED_MEMORY_BYTES, "steady works": steady_bytes, "mass operation peak": mass.peak_bytes,
             "kv keys": kv_bytes}
    return MemoryEstimate(parts, overheads, mem.recommend_memory(dataset, overheads))


def planned_replicas(d) -> int:
    """The replicas the recommendation is sized for: Sentinel's plan (at least 2, :func:`analysis.ha.sentinel_plan`),
    Redis Enterprise's one replica shard (:func:`analysis.ha.enterprise_plan`), 0 without HA."""
    f = facts(d.topology)
    if not f.ha:
        return 0
    return ha.sentinel_plan(d.replicas, d.sentinels).replicas if f.sizing == "sentinel" else ha.ENTERPRISE_REPLICAS


def _other_ops_per_s(traffic: Traffic) -> float:
    """Round trips that are not WorkManager lifecycle scripts (empty pop-work re-polls included)."""
    return max(0.0, traffic.ops_per_s - 4 * traffic.works_per_s)


@dataclass
class CpuEstimate:
    """The Redis main thread: CPU per work and per op, utilization (0..1), one shard's ceilings, p99 (µs)."""

    cpu_us_per_work: float
    cpu_us_per_op: float
    utilization_steady: float
    utilization_peak: float
    max_utilization: float
    ceiling_works_per_s: float
    ceiling_ops_per_s: float
    cpu_us_per_work_light_load: float
    cpu_us_per_work_saturated: float
    cpu_us_per_op_light_load: float
    cpu_us_per_op_saturated: float
    ceiling_method: dict
    ceiling_extrapolation: dict
    ceiling_validation: dict | None
    p99_estimate_us: float | None  # None: saturated
    latency_slo_p99_us: float
    demand_source: str
    op: str = "one client request (one round trip: a command or a script call)"

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_cpu(target: TargetLoad, traffic: Traffic, measured: Measured, mass: MassOperationEstimate) -> CpuEstimate:
    """Main-thread utilization in steady state and during the mass operation, from the CPU-per-request
    models (``analysis.throughput.Ceilings``: measured, else documented defaults), and an M/M/1 p99."""
    d = target.deployment
    cl = measured.ceilings or tp.Ceilings(tp.default_work_model(), tp.default_op_model(), None, None, "default")
    tls = tp.TLS_CPU_FACTOR if d.tls else 1.0
    mw, mop = cl.works.scaled(tls), cl.ops.scaled(tls)
    op_load = _other_ops_per_s(traffic) + 0.5 * traffic.pubsub_deliveries_per_s
    u_steady = tp.combined_utilization([(mw, traffic.works_per_s), (mop, op_load)])
    # during a mass operation: one scheduling-work per arrival, the other three EVALSHA per consumed work
    mass_rate, mu_mass = mass.arrival_works_per_s, mass.service_works_per_s
    peak_works = traffic.works_per_s + mass_rate / 4 + min(mu_mass, mass_rate) * 3 / 4
    u_peak = tp.combined_utilization([(mw, peak_works), (mop, op_load)])
    p99 = mop.demand_us(u_peak) * math.log(100) / (1 - u_peak) if u_peak < 1 else None  # None: saturated
    return CpuEstimate(
        cpu_us_per_work=mw.demand_us(u_steady), cpu_us_per_op=mop.demand_us(u_steady), utilization_steady=u_steady,
        utilization_peak=u_peak, max_utilization=d.max_cpu_utilization, ceiling_works_per_s=mw.ceiling_per_s,
        ceiling_ops_per_s=mop.ceiling_per_s,
        cpu_us_per_work_light_load=mw.busy_us + mw.turn_us, cpu_us_per_work_saturated=mw.busy_us,
        cpu_us_per_op_light_load=mop.busy_us + mop.turn_us, cpu_us_per_op_saturated=mop.busy_us,
        ceiling_method={"works": mw.method, "ops": mop.method},
        ceiling_extrapolation={"works": _finite(mw.extrapolation), "ops": _finite(mop.extrapolation)},
        ceiling_validation=cl.validation(), p99_estimate_us=p99, latency_slo_p99_us=d.latency_slo_p99_us,
        demand_source=cl.source)


def estimate_network(target: TargetLoad, traffic: Traffic, mass: MassOperationEstimate,
                     replicas: int) -> net.NodeTraffic:
    """The master's bytes in and out per second and the link to plan (``analysis.network.node_traffic``)."""
    mo = target.mass_operation
    return net.node_traffic(
        works_per_s=traffic.works_per_s, work_payload_bytes=traffic.mean_payload_bytes,
        other_ops_per_s=_other_ops_per_s(traffic), kv_value_bytes=traffic.kv_value_bytes,
        publishes_per_s=traffic.publishes_per_s, pubsub_message_bytes=traffic.pubsub_message_bytes,
        pubsub_deliveries_per_s=traffic.pubsub_deliveries_per_s, replicas=replicas,
        mass_arrival_works_per_s=mass.arrival_works_per_s, mass_consumed_works_per_s=mass.service_works_per_s,
        mass_payload_bytes=mo.payload_bytes if mo else 0)


@dataclass
class Estimates:
    """The models' answers for one target, measured parameters and server layout (what ``size`` composes)."""

    traffic: Traffic
    mass: MassOperationEstimate
    memory: MemoryEstimate
    cpu: CpuEstimate
    network: net.NodeTraffic


def estimate(target: TargetLoad, measured: Measured, layout: mem.RedisLayout) -> Estimates:
    """Traffic → mass operation → memory, CPU and network, each from its own model."""
    traffic = traffic_of(target)
    mass = estimate_mass_operation(target, traffic, measured, layout)
    memory = estimate_memory(target, traffic, measured, layout, mass)
    cpu = estimate_cpu(target, traffic, measured, mass)
    network = estimate_network(target, traffic, mass, memory.overheads.replicas)
    return Estimates(traffic, mass, memory, cpu, network)


def size(target: TargetLoad, runs: Sequence | None = None, catalog_path: str | None = None) -> Recommendation:
    """Size a deployment for ``target`` (see the module docstring)."""
    measured = measured_from_runs(runs)
    d = target.deployment
    layout = mem.RedisLayout.for_server(d.server_id, mem.Allocator.parse(d.allocator))
    models = estimate(target, measured, layout)
    traffic, mass = models.traffic, models.mass.summary
    rec, overheads = models.memory.recommendation, models.memory.overheads
    cpu, network = models.cpu.to_dict(), models.network.to_dict()
    flags: list[str] = list(traffic.notes) + servers.nuxeo_support_flags(layout, d.nuxeo_lts)
    # runs from another server than the target's: say so, with the modelled difference for this load
    cross = [servers.cross_server_note(lay, layout, estimate(target, measured, lay).memory.dataset_bytes,
                                       rec.dataset_bytes)
             for lay in servers.run_layouts(runs) if not servers.same_server(lay, layout)]
    assumptions = [
        f"parameters: {measured.source}",
        f"memory: analytic model for {layout.label}"
        + (f", scaled ×{measured.memory_scale:.3f} by the runs" if runs else "")
        + f"; fragmentation {overheads.fragmentation_ratio:.2f}"
        + (" (measured)" if measured.fragmentation_ratio else " (default)"),
        mem.cow_assumption(overheads, rec),
        "p99 estimate: M/M/1 at the peak main-thread load, server side only (network round trip excluded)",
        f"steady pending works: Little's law, processing time + {POLL_WAIT_S} s mean poll wait",
        "CPU ceiling: one main thread (the WorkManager's Lua scripts run there); io-threads not modelled",
    ] + ([] if d.nuxeo_lts else [servers.NUXEO_MATRIX_TEXT]) + ([f"TLS: CPU per operation × {tp.TLS_CPU_FACTOR} (measured, unpipelined SET)"] if d.tls else []) + [
        c["text"] for c in cross]

    if cpu["utilization_peak"] > d.max_cpu_utilization:
        flags.append(
            f"main thread {cpu['utilization_peak']:.0%} busy at peak > {d.max_cpu_utilization:.0%}: the load exceeds "
            f"one shard's WorkManager ceiling ({cpu['ceiling_works_per_s']:.0f} works/s). The WorkManager scripts "
            "cannot be sharded; what helps: faster cores (higher clock), splitting workloads across Redis instances "
            "(KV/transient store and PubSub on their own Redis), or moving the WorkManager to Nuxeo Stream/Kafka "
            "(nuxeo.stream.work.enabled=true)")
    if measured.latency_points:
        # the verdict reads supported p99 values only (>= P99_MIN_REQUESTS requests in the step); with none,
        # every step's p99 is shown as indicative
        supported = [(x, y) for x, y, n in measured.latency_points if tp.p99_supported(n)]
        basis = "supported" if supported else "indicative"
        pts = supported or [(x, y) for x, y, _n in measured.latency_points]
        xs, ys = zip(*pts)
        knee = tp.latency_knee(xs, ys, d.latency_slo_p99_us) if len(pts) >= 2 else None
        at_target = tp.p99_at(xs, ys, traffic.ops_per_s)
        cpu.update(measured_knee_ops_per_s=knee, p99_basis=basis, p99_at_target_us=at_target,
                   p99_supported_steps=len(supported), p99_min_requests=tp.P99_MIN_REQUESTS)
        rule = (f"p99 from steps with at least {tp.P99_MIN_REQUESTS:,} requests ({len(supported)} of "
                f"{len(measured.latency_points)} steps)" if supported else
                f"no step had {tp.P99_MIN_REQUESTS:,} requests: p99 values are indicative only "
                "(record the full profile, rcap suite --full)")
        assumptions.append(f"client-side p99 (round trip included); {rule}; knee at the SLO: "
                           + (f"{knee:.0f} ops/s" if knee else "no step met the SLO") + "; p99 at the target's "
                           + (f"{traffic.ops_per_s:.0f} ops/s: {at_target:.0f} µs ({basis})" if at_target is not None
                              else f"{traffic.ops_per_s:.0f} ops/s: outside the measured range "
                                   f"{min(xs):.0f}–{max(xs):.0f} ops/s"))
        best_x, best_y = min(pts, key=lambda p: p[1])
        if best_y > d.latency_slo_p99_us:
            flags.append(f"no measured step met the p99 SLO of {d.latency_slo_p99_us:.0f} µs (best {basis} p99: "
                         f"{best_y:.0f} µs at {best_x:.0f} ops/s, client side, load generator included)")
        elif knee is not None and traffic.ops_per_s > knee:
            flags.append(f"{traffic.ops_per_s:.0f} ops/s is beyond the measured p99 knee ({knee:.0f} ops/s) for "
                         f"{d.latency_slo_p99_us:.0f} µs ({basis} p99)")
    if cpu["p99_estimate_us"] is None or cpu["p99_estimate_us"] > d.latency_slo_p99_us:
        est = "unbounded (saturated)" if cpu["p99_estimate_us"] is None else f"{cpu['p99_estimate_us']:.0f} µs"
        flags.append(f"estimated p99 {est} exceeds the SLO {d.latency_slo_p99_us:.0f} µs")
    if facts(d.topology).connect_as == "sentinel" and target.business is not None:
        from rcapcore.nuxeo.pool import node_pool  # noqa: PLC0415
        from rcapcore.nuxeo.versions import profile  # noqa: PLC0415

        threads = profile(target.business.nuxeo_version).idle_polling_threads()
        flags.append(f"Sentinel mode ignores nuxeo.redis.maxTotal/maxIdle: each Nuxeo node gets Jedis's default "
                     f"pool of {node_pool('sentinel').max_total} connections ({node_pool('sentinel').command_connections}"
                     f" for commands) for {threads} polling worker threads; borrowers wait when it is exhausted")
    if mass and mass["requested_works_per_s"] > mass["scheduling_cap_works_per_s"]:
        flags.append(f"mass operation asks for {mass['requested_works_per_s']:.0f} works/s but scheduling is serialized "
                     f"per queue per node: at most {mass['scheduling_cap_works_per_s']:.0f} works/s")
    keys_scans = _keys_scans(target, traffic, runs)
    if keys_scans and keys_scans["blocking_us"] > d.latency_slo_p99_us:
        flags.append(f"Nuxeo's scheduled KEYS (transient-store GC, bulk status listing) block Redis "
                     f"{keys_scans['blocking_us'] / 1000:.1f} ms each at {keys_scans['keys']:,.0f} keys, "
                     f"{keys_scans['scans_per_period']} times every 15 min: above the p99 SLO of "
                     f"{d.latency_slo_p99_us:.0f} µs for the commands that arrive meanwhile")
    if mass and mass["oom_t_s"] is not None:
        flags.append(f"mass operation reaches maxmemory at t={mass['oom_t_s']:.0f} s")

    topo = estimate_topology(d, models.memory, models.network.link_gbps, catalog_path)
    flags += topo.flags
    maxmem, node_ram = rec.maxmemory_bytes, topo.node_ram_bytes
    disk = estimate_disk(d, maxmem).to_dict()

    cases = [w.to_dict() for w in what_ifs(target, what_if_engine(measured, layout, catalog_path), models, maxmem)]

    memory = {"dataset_bytes": rec.dataset_bytes, "maxmemory_bytes": maxmem, "node_ram_bytes": node_ram,
              "parts": models.memory.parts,
              "node_parts": rec.parts, "layout": layout.label, "server": layout.server,
              "runs_on_other_servers": cross,
              "memory_scale": measured.memory_scale, "memory_scale_ci": measured.memory_scale_ci}
    tr = {k: v for k, v in asdict(traffic).items() if k != "notes"}
    return Recommendation(target.name, target.level, measured.source, tr, memory, mass, cpu, network, disk,
                          topo.topology, topo.instances, cases, flags, assumptions, keys_scans)


def what_if_engine(measured: Measured, layout: mem.RedisLayout, catalog_path: str | None = None) -> Engine:
    """The models ``analysis.whatif`` replays each case with: the recommendation's measured parameters and
    server layout, the topology rules for the RAM per node."""
    return Engine(
        estimate=lambda t: estimate(t, measured, layout),
        node_ram_bytes=lambda t, e: estimate_topology(t.deployment, e.memory, e.network.link_gbps,
                                                      catalog_path).node_ram_bytes,
        queue_bytes=lambda t, traffic, m, lv: queue_bytes(t, traffic, measured, layout, m, lv),
        layout=layout, memory_scale=measured.memory_scale)


def _keys_scans(target: TargetLoad, traffic: Traffic, runs: Sequence | None) -> dict | None:
    """The expected spike of the scheduled KEYS for the target's KV keyspace (business targets: the Nuxeo
    nodes run them), blocking time fitted on the runs' scans when they cover two keyspace sizes."""
    if target.business is None:
        return None
    fit = None
    pts = keyscans.scan_points(runs or [])
    if len(pts):
        try:
            fit = keyscans.fit_blocking(pts["keys"], pts["keys_us"])
        except BadInput:
            fit = None
    f = keyscans.expected_spike(traffic.kv_keys, target.business.nodes,
                                target.deployment.latency_slo_p99_us, fit)
    return asdict(f)


@dataclass
class DiskEstimate:
    """Disk for persistence (bytes), by the rule of the persistence mode."""

    persistence: str
    bytes: float
    rule: str

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_disk(d, maxmemory_bytes: float) -> DiskEstimate:
    """Persistent disk for the target's persistence mode (``analysis.ha.disk_bytes``: a factor × maxmemory)."""
    return DiskEstimate(d.persistence, ha.disk_bytes(d.persistence, maxmemory_bytes), ha.DISK_RULE[d.persistence])


@dataclass
class TopologyEstimate:
    """The deployment: topology (``Recommendation.topology``), RAM per data node, instance types, and the
    flags the topology rules raised."""

    topology: dict
    node_ram_bytes: float
    instances: list[dict]
    flags: list[str]


def estimate_topology(d, memory: MemoryEstimate, link_gbps: float, catalog_path: str | None = None) -> TopologyEstimate:
    """The topology rules (:func:`_topology`), then the catalog's instance types that hold the node."""
    rec = memory.recommendation
    flags: list[str] = []
    topo = _topology(d, rec, memory.overheads.fragmentation_ratio, flags)
    node_ram = topo.get("node_ram_bytes", rec.node_ram_bytes)
    insts = [i.to_dict() for i in candidates(load_catalog(catalog_path), rec.maxmemory_bytes, node_ram, link_gbps,
                                             tuple(d.providers) or None, persistence=d.persistence != "none")]
    if facts(d.topology).self_managed:
        insts = [i for i in insts if not i["managed"]]  # Redis Enterprise runs on VMs
    persistence = ha.persistence_flag(d.persistence, rec.maxmemory_bytes)
    return TopologyEstimate(topo, node_ram, insts, flags + ([persistence] if persistence else []))


def _topology(d, rec: mem.MemoryRecommendation, frag: float, flags: list[str]) -> dict:
    """Topology rules (:mod:`analysis.ha`): Sentinel on 3 nodes at least (1 master + 2 replicas, one Sentinel
    on each, quorum = majority); Redis Enterprise odd ≥ 3 nodes, 30 % RAM free, replication doubles memory,
    ≤ 25 GB per shard (the WorkManager needs a single shard). The rule is the topology's ``sizing`` fact
    (``rcapcore.topologies``)."""
    return _TOPOLOGY_RULES[facts(d.topology).sizing](d, rec, frag, flags)


def _single_node(d, rec: mem.MemoryRecommendation, frag: float, flags: list[str]) -> dict:
    lost = {"none": "everything it holds", "rdb": "the works since the last snapshot",
            "aof": "about the last second of works"}[d.persistence]
    flags.append(f"standalone: no failover (Nuxeo's Redis page asks for at least three nodes for HA); while Redis is down "
                 f"every Nuxeo call to it waits and retries, and a restart loses {lost}")
    return {"kind": "standalone", "data_nodes": 1, "summary": "1 Redis node, no HA",
            "enterprise_option": ha.enterprise_plan(rec.maxmemory_bytes, frag).to_dict()}


def _sentinel(d, rec: mem.MemoryRecommendation, frag: float, flags: list[str]) -> dict:
    plan = ha.sentinel_plan(d.replicas, d.sentinels)
    flags.extend(plan.flags)
    # the supported alternative (Nuxeo's Redis page), sized for the same maxmemory
    return {**plan.to_dict(), "enterprise_option": ha.enterprise_plan(rec.maxmemory_bytes, frag).to_dict()}


def _enterprise(d, rec: mem.MemoryRecommendation, frag: float, flags: list[str]) -> dict:
    plan = ha.enterprise_plan(rec.maxmemory_bytes, frag, d.enterprise_nodes, d.replicas)
    flags.extend(plan.flags)
    return plan.to_dict()


_TOPOLOGY_RULES = {"single-node": _single_node, "sentinel": _sentinel, "enterprise": _enterprise}
"""``TopologyFacts.sizing`` → its rule; analysis.targets accepts only topologies that have one."""


def with_deployment(target: TargetLoad, **changes) -> TargetLoad:
    """A copy of ``target`` with deployment fields changed (what-if helper for notebooks)."""
    return replace(target, deployment=replace(target.deployment, **changes))
