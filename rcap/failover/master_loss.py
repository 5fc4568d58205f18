"""The master-loss experiment (``rcap failover``): load a Sentinel or Enterprise stand-in group, take its
master away (kill, stop, partition), follow the new master, then audit what the clients were told.

Timeline (seconds from the load start): the fault begins at ``at_s`` and lasts ``fault_s`` (kill: the
old master restarts after it; stop: SIGCONT; partition: the iptables rules go), the load runs for
``duration_s``; then the group settles (sentinels agree, the old master is a replica again) and every
acknowledged write is looked up on the final master.
"""

from __future__ import annotations

import secrets
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import redis

from rcapcore.errors import BadInput, TopologyError
from rcap.failover import partition as netpart
from rcap.failover.availability import nuxeo_retry_delay_ms
from rcap.failover.nodes import data_nodes, node_client, sentinel_nodes, wait_settled
from rcap.failover.record import ExperimentRun
from rcap.failover.sentinel_events import SentinelEvent, SentinelWatcher, switch_target
from rcap.failover.workload import FOLLOW_MODES, WORKLOADS, FailoverLoad, LoadSpec
from rcapcore.nuxeo.keys import check_prefix
from loadgen.nuxeo.workmanager import WorkManagerClient
from rcapcore.paths import RUNS, STATE
from loadgen.topology.lab import Node, Topology, up
from rcapcore.topologies import facts, with_sentinels

TOPOLOGIES = with_sentinels()
FAULTS = ("kill", "stop", "partition")
SERVICE_NAME = "mymaster"
WORK_OPS = frozenset({"schedule", "pop", "running", "completed"})


@dataclass(frozen=True)
class FailoverSpec:
    """One master-loss experiment. Times in seconds unless the name says ms.

    ``min_replicas_to_write``/``min_replicas_max_lag_s`` are set on every data node (0 = Redis's
    default: the master never refuses writes); ``seed`` makes ids, payloads and messages reproducible.
    """

    topology: str = "sentinel"
    fault: str = "kill"
    at_s: float = 10.0
    duration_s: float = 40.0
    fault_s: float = 10.0
    down_after_ms: int = 2000
    failover_timeout_ms: int = 4000
    min_replicas_to_write: int = 0
    min_replicas_max_lag_s: int = 10
    persistence: str = "none"
    settle_timeout_s: float = 20.0
    seed: int = 0
    load: LoadSpec = field(default_factory=LoadSpec)
    base_dir: str = str(STATE)

    def __post_init__(self) -> None:
        if self.topology not in TOPOLOGIES:
            raise BadInput(f"--topology must be one of {', '.join(TOPOLOGIES)}, not {self.topology!r}")
        if self.fault not in FAULTS:
            raise BadInput(f"--fault must be one of {', '.join(FAULTS)}, not {self.fault!r}")
        if self.at_s < 1:
            raise BadInput(f"--at must be at least 1 s (the load needs to start), got {self.at_s:g} s")
        if self.fault_s <= 0 or self.at_s + self.fault_s >= self.duration_s:
            raise BadInput(f"the fault ({self.at_s:g} s + {self.fault_s:g} s) must end before --duration "
                           f"{self.duration_s:g} s, so the clients are seen to recover")
        if self.min_replicas_to_write < 0 or self.min_replicas_max_lag_s < 1:
            raise BadInput("--min-replicas-to-write must be ≥ 0 and --min-replicas-max-lag ≥ 1 s")
        if self.load.wait_replicas < 0:
            raise BadInput("--wait-replicas must be ≥ 0")
        check_prefix(self.load.prefix)
        if "workmanager" not in self.load.workloads or set(self.load.workloads) - set(WORKLOADS):
            raise BadInput(f"--workloads must include workmanager and be among {', '.join(WORKLOADS)}")
        if self.load.follow not in FOLLOW_MODES:
            raise BadInput(f"--follow must be one of {', '.join(FOLLOW_MODES)}")
        if self.load.seed != self.seed:
            object.__setattr__(self, "load", replace(self.load, seed=self.seed))
        if facts(self.topology).proxied and self.load.follow == "switch-master":
            # Behind the proxy a client sees one endpoint and no sentinel events.
            object.__setattr__(self, "load", replace(self.load, follow="errors"))


class _Fault:
    """Begins and ends one fault on the node that is master at the start."""

    def __init__(self, spec: FailoverSpec, topo: Topology, master: Node):
        self.spec, self.topo, self.master = spec, topo, master
        self.active = False
        self.partition: netpart.Partition | None = None
        if spec.fault == "partition":
            peers = [n.host for n in topo.nodes if n.role in ("replica", "sentinel")]
            self.partition = netpart.Partition(isolated=master.host, peers=peers)

    def begin(self) -> float:
        """Start the fault; returns when it took effect (epoch s, taken just before the action)."""
        self.active = True
        t = time.time()
        if self.spec.fault == "kill":
            self.topo.kill_node(self.master, signal.SIGKILL)
        elif self.spec.fault == "stop":
            self.topo.stop_node(self.master)
        else:
            self.partition.cut()
            t = self.partition.cut_at
        return t

    def end(self) -> float | None:
        """Undo the fault (idempotent); returns when, or None if nothing was active."""
        if not self.active:
            return None
        self.active = False
        if self.spec.fault == "kill":
            self.topo.start_node(self.master)
        elif self.spec.fault == "stop":
            self.topo.cont_node(self.master)
        else:
            self.partition.heal()
        return time.time()

    def force_end(self) -> None:
        """Best-effort undo on the way out (the partition rules must never stay)."""
        if self.partition is not None:
            self.partition.heal()
        if self.active and self.spec.fault == "stop":
            try:
                self.topo.cont_node(self.master)
            except TopologyError:
                pass
        self.active = False


def run_failover(spec: FailoverSpec, out: str | Path = RUNS, *, log=None) -> Path:
    """Run the experiment; returns the path of ``result.json`` in its run directory.

    ``log(line)`` receives progress lines (e.g. ``print`` to stderr). Ctrl-C stops the load, undoes the
    fault, audits what it can and records the run as ``interrupted``.
    """
    say = log or (lambda _line: None)
    if spec.fault == "partition":
        netpart.check_available()
        netpart.remove_stale_chains()
    password = secrets.token_urlsafe(18) if facts(spec.topology).password_required else None
    say(f"starting a {spec.topology} topology (down-after {spec.down_after_ms} ms)")
    topo = up(spec.topology, down_after_ms=spec.down_after_ms, failover_timeout_ms=spec.failover_timeout_ms,
              persistence=spec.persistence, password=password, bind_hosts=True, base_dir=spec.base_dir)
    watcher = None
    try:
        _configure(topo, spec)
        old_master = topo.current_master()
        exp = ExperimentRun(out, f"failover-{spec.topology}-{spec.fault}", "failover", spec)
        exp.watch(topo)
        load = FailoverLoad(spec.load, topo.client)

        def on_event(event: SentinelEvent) -> None:
            exp.event("sentinel", t=event.t, **{k: v for k, v in event.to_dict().items() if k != "t"})
            if event.kind == "+switch-master" and event.about_master(SERVICE_NAME):
                load.on_switch_master(event.t, switch_target(event))

        watcher = SentinelWatcher([(n.host, n.port) for n in sentinel_nodes(topo)], SERVICE_NAME,
                                  on_event=on_event, **_sentinel_kwargs(topo))
        watcher.start()
        return _run(spec, topo, exp, load, watcher, old_master, say)
    finally:
        if watcher is not None:
            watcher.stop()
        topo.down()


def _run(spec: FailoverSpec, topo: Topology, exp: ExperimentRun, load: FailoverLoad, watcher: SentinelWatcher,
         old_master: Node, say) -> Path:
    fault = _Fault(spec, topo, old_master)
    status, error = "complete", None
    t0 = fault_t = fault_end_t = None
    try:
        try:
            load.start()
            t0 = time.time()
            exp.event("load_start", t=t0, seed=spec.seed)
            say(f"load running; {spec.fault} of {old_master.name} ({old_master.host}:{old_master.port}) "
                f"at {spec.at_s:g} s for {spec.fault_s:g} s")
            _sleep_until(t0 + spec.at_s)
            fault_t = fault.begin()
            exp.event("fault_start", t=fault_t, fault=spec.fault, node=old_master.name,
                      address=f"{old_master.host}:{old_master.port}")
            _sleep_until(fault_t + spec.fault_s)
            fault_end_t = fault.end()
            exp.event("fault_end", t=fault_end_t, fault=spec.fault, node=old_master.name)
            say("fault over; load continues")
            _sleep_until(t0 + spec.duration_s)
        finally:
            fault.force_end()
            load.stop()
            exp.event("load_stop")
    except KeyboardInterrupt:
        status = "interrupted"
        say("interrupted: auditing what was recorded")
    except Exception as exc:  # noqa: BLE001  (recorded as a failed run, never left "running")
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    new_master = None
    audit: dict = {}
    try:
        new_master = wait_settled(topo, spec.settle_timeout_s, SERVICE_NAME)
        if new_master is None:
            exp.event("not_settled", timeout_s=spec.settle_timeout_s)
            new_master = topo.current_master()
        exp.event("settled", node=new_master.name, address=f"{new_master.host}:{new_master.port}")
        audit = _audit(topo, new_master, spec, load)
        exp.event("audit", **{k: audit[k] for k in ("acked", "acked_present", "acked_lost", "duplicates")})
    except KeyboardInterrupt:
        status = "interrupted"
    except (redis.RedisError, OSError, TopologyError) as exc:
        status, error = "failed", f"audit failed: {type(exc).__name__}: {exc}"
    if load.crashes and status == "complete":  # a dead load thread makes the counts meaningless
        status, error = "failed", f"load thread crashed: {load.crashes[0]}"
    result = _result(spec, load, watcher, old_master, new_master, t0, fault_t, fault_end_t, audit)
    return exp.finish(result, status, error)


def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


def _configure(topo: Topology, spec: FailoverSpec) -> None:
    if not spec.min_replicas_to_write:
        return
    for node in data_nodes(topo):
        with node_client(topo, node) as client:
            client.config_set("min-replicas-to-write", spec.min_replicas_to_write)
            client.config_set("min-replicas-max-lag", spec.min_replicas_max_lag_s)


def _sentinel_kwargs(topo: Topology) -> dict:
    tls = topo.node_options().tls
    return {"ssl": True, "ssl_ca_certs": tls.ca, "ssl_certfile": tls.cert, "ssl_keyfile": tls.key} if tls else {}


def _audit(topo: Topology, master: Node, spec: FailoverSpec, load: FailoverLoad) -> dict:
    """Look up every acknowledged write on the final master (read-only)."""
    rec = load.record
    acked = dict(rec.acked)
    with node_client(topo, master, timeout_s=10.0) as client:
        where = WorkManagerClient(client, prefix=spec.load.prefix).audit(spec.load.queue_id, list(acked))
        kv_keys = list(rec.kv_acked)
        kv_values: list = []
        for i in range(0, len(kv_keys), 1000):
            kv_values += client.mget(kv_keys[i:i + 1000])
    counts = {"completed": 0, "started": 0, "scheduled": 0, "running": 0, "orphaned": 0, "lost": 0}
    lost_ids: list[str] = []
    for wid in acked:
        if wid in rec.completed:
            counts["completed"] += 1
        elif rec.started.get(wid):
            counts["started"] += 1
        elif where[wid].status != "absent":
            counts[where[wid].status] += 1
        else:
            counts["lost"] += 1
            lost_ids.append(wid)
    kv_lost = sum(1 for k, v in zip(kv_keys, kv_values) if v != rec.kv_acked[k])
    executed_unacked = sum(1 for wid in rec.started if wid not in acked)
    published = set(rec.published)
    return {
        "acked": len(acked),
        "acked_present": len(acked) - counts["lost"],
        "acked_lost": counts["lost"],
        "acked_by_state": counts,
        "lost_ack_times": sorted(acked[w] for w in lost_ids),
        "lost_work_ids_sample": sorted(lost_ids)[:20],
        "unacked": len(rec.unacked),
        "executed_unacked": executed_unacked,
        "duplicates": sum(1 for n in rec.started.values() if n > 1),
        "extra_executions": sum(n - 1 for n in rec.started.values() if n > 1),
        "kv_acked": len(kv_keys),
        "kv_acked_lost": kv_lost,
        "pubsub_published": len(published),
        "pubsub_received": len(rec.received & published),
        "pubsub_missed": len(published - rec.received),
    }


def _first(watcher: SentinelWatcher, kind: str, after: float | None, about_master: bool = True) -> SentinelEvent | None:
    return watcher.first(kind, after, about_master) if after is not None else None


def _ms(event: SentinelEvent | None, t: float | None) -> float | None:
    return round((event.t - t) * 1000.0, 1) if event is not None and t is not None else None


def _result(spec: FailoverSpec, load: FailoverLoad, watcher: SentinelWatcher, old_master: Node,
            new_master: Node | None, t0: float | None, fault_t: float | None, fault_end_t: float | None,
            audit: dict) -> dict:
    ops = load.record.ops
    # Per operation, the first window after the fault; the headline is the longest WorkManager one
    # (when writes fail, pops may still succeed: merging the operations would hide the outage).
    windows, firsts = {}, {}
    for op in ("schedule", "pop", "running", "completed", "kv_set", "publish"):
        windows[op] = ops.windows({op})
        after = [w for w in windows[op] if fault_t is not None and w.end >= fault_t]
        if after:
            firsts[op] = after[0]
    work_firsts = [(w, op) for op, w in firsts.items() if op in WORK_OPS]
    first, first_op = max(work_firsts, key=lambda x: x[0].ms) if work_firsts else (None, "schedule")
    unavailability_ms = round(first.ms, 1) if first else (0.0 if fault_t is not None else None)
    by_op = {op: round(firsts[op].ms, 1) if op in firsts else 0.0 for op in windows}
    sdown, odown = _first(watcher, "+sdown", fault_t), _first(watcher, "+odown", fault_t)
    switch = _first(watcher, "+switch-master", fault_t)
    promoted = _first(watcher, "+promoted-slave", fault_t, about_master=False)
    lost_times = audit.pop("lost_ack_times", [])
    per_op: dict[str, dict[str, int]] = {}
    for o in ops.outcomes():
        entry = per_op.setdefault(o.op, {"ok": 0, "failed": 0})
        entry["ok" if o.ok else "failed"] += 1
    base = t0 or 0.0
    result = {
        "experiment": "failover",
        "topology": spec.topology,
        "fault": spec.fault,
        "seed": spec.seed,
        "follow": spec.load.follow,
        "min_replicas_to_write": spec.min_replicas_to_write,
        "min_replicas_max_lag_s": spec.min_replicas_max_lag_s,
        "wait_replicas": spec.load.wait_replicas,
        "persistence": spec.persistence,
        "down_after_ms": spec.down_after_ms,
        "t0": round(base, 3),
        "fault_start_s": round(fault_t - base, 3) if fault_t else None,
        "fault_end_s": round(fault_end_t - base, 3) if fault_end_t else None,
        "old_master": f"{old_master.host}:{old_master.port}",
        "new_master": f"{new_master.host}:{new_master.port}" if new_master else None,
        "failover_happened": bool(new_master and new_master.name != old_master.name),
        "detection_ms": _ms(sdown, fault_t),
        "odown_ms": _ms(odown, fault_t),
        "promotion_ms": _ms(switch, fault_t),
        "replica_promoted_ms": _ms(promoted, fault_t),
        "client_switch_s": [round(t - base, 3) for t in load.record.switches],
        "unavailability_ms": unavailability_ms,
        "unavailability_closed": first.closed if first else True,
        "unavailability_op": first_op,
        "unavailability_windows": [{**w.to_dict(base), "op": first_op} for w in windows[first_op]],
        "unavailability_windows_by_op": {op: [w.to_dict(base) for w in ws] for op, ws in windows.items() if ws},
        "unavailability_by_op_ms": by_op,
        "nuxeo_retry_unavailability_ms": (nuxeo_retry_delay_ms(unavailability_ms)
                                          if unavailability_ms else unavailability_ms),
        "errors": ops.errors_by_class(),
        "errors_by_op": ops.errors_by_op(),
        "ops": per_op,
        "load_crashes": list(load.crashes),
        "sentinel_events": [e.to_dict() for e in watcher.events() if e.about_master(SERVICE_NAME)
                            or e.kind in ("+promoted-slave", "+selected-slave", "+convert-to-slave")],
        "load": asdict(spec.load),
        **audit,
    }
    if lost_times:
        result["lost_acked_between_s"] = [round(lost_times[0] - base, 3), round(lost_times[-1] - base, 3)]
    return result
