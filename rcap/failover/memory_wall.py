"""The memory wall (``rcap memory-wall``): the ``mass-operation`` scenario (a reindex: works scheduled at
λ works/s while consumers drain μ works/s) runs against a node at ``maxmemory`` with ``noeviction`` until
Redis refuses a schedule with OOM.

Recorded at the wall: the backlog (works pending), ``used_memory``, the bytes each pending work cost, and
the spec's rule of thumb (1.1–1.2 × payload + 250–300 B per work). The memory model's prediction is not
recorded: the report computes it from these measurements (``analysis.memory_wall``), so it never goes
stale inside the immutable run. Then: do further schedules keep failing, can consumers
still pop (``pop-work`` writes first with a command that is not deny-oom, so Redis lets the script run),
and does scheduling work again once some works were completed.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from rcapcore.errors import BadInput
from rcap.failover.nodes import node_client
from rcap.failover.record import ExperimentRun
from rcapcore.nuxeo.keys import check_prefix
from rcapcore.nuxeo.payloads import RULE_PAYLOAD_FACTOR, RULE_PER_WORK_BYTES, PayloadFactory, work_type
from loadgen.nuxeo.workmanager import WorkManagerClient
from rcapcore.paths import RUNS, STATE
from loadgen.scenarios import load_scenario
from loadgen.topology.lab import up
from loadgen.topology.redisconf import parse_bytes


@dataclass(frozen=True)
class MemoryWallSpec:
    """``maxmemory`` in bytes or Redis units ("64mb"). The work type, queue and rates come from
    ``scenario`` (``mass-operation``) unless given: ``schedule_rate`` λ and ``consume_rate`` μ in works/s
    (μ = 0: nobody consumes). The run stops at the first OOM or after ``timeout_s`` (s); ``confirm``
    more schedules check that the wall holds, then ``drain`` works are popped and completed."""

    maxmemory: int | str = "64mb"
    scenario: str = "mass-operation"
    work_type: str | None = None
    queue_id: str | None = None
    schedule_rate: float | None = None
    consume_rate: float | None = None
    timeout_s: float = 120.0
    confirm: int = 20
    drain: int = 100
    prefix: str = "rcap:"
    seed: int = 0
    base_dir: str = str(STATE)

    def __post_init__(self) -> None:
        maxmemory = parse_bytes(self.maxmemory)
        if not maxmemory or maxmemory < 4 * 1024 * 1024:
            raise BadInput(f"--maxmemory must be at least 4mb for a memory wall, got {self.maxmemory!r}")
        object.__setattr__(self, "maxmemory", maxmemory)
        params = load_scenario(self.scenario).params
        for name in ("work_type", "queue_id", "schedule_rate", "consume_rate"):
            if getattr(self, name) is None:
                if not hasattr(params, name):
                    raise BadInput(f"scenario {self.scenario!r} has no {name}: use a mass-operation scenario")
                object.__setattr__(self, name, getattr(params, name))
        if self.schedule_rate <= 0 or self.consume_rate < 0 or self.consume_rate >= self.schedule_rate:
            raise BadInput(f"the wall needs 0 ≤ consume rate < schedule rate (works/s), got "
                           f"{self.consume_rate:g} and {self.schedule_rate:g}")
        if self.timeout_s <= 0 or self.confirm < 1 or self.drain < 1:
            raise BadInput("--timeout, --confirm and --drain must be positive")
        work_type(self.work_type)
        check_prefix(self.prefix)


def run_memory_wall(spec: MemoryWallSpec, out: str | Path = RUNS, *, log=None) -> Path:
    """Run the memory wall; returns the path of ``result.json``."""
    say = log or (lambda _line: None)
    topo = up("standalone", maxmemory=spec.maxmemory, maxmemory_policy="noeviction", base_dir=spec.base_dir)
    try:
        exp = ExperimentRun(out, "memory-wall", "memory-wall", spec)
        exp.watch(topo)
        status, error, result = "complete", None, {}
        try:
            result = _wall(spec, topo, exp, say)
            if result.get("backlog_at_wall") is None:
                status, error = "failed", f"no OOM within {spec.timeout_s:g} s"
        except KeyboardInterrupt:
            status = "interrupted"
        except Exception as exc:  # noqa: BLE001  (recorded as a failed run, never left "running")
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        return exp.finish({"experiment": "memory-wall", **result}, status, error)
    finally:
        topo.down()


def _wall(spec: MemoryWallSpec, topo, exp: ExperimentRun, say) -> dict:
    node = topo.nodes_with_role("master")[0]
    factory = PayloadFactory(seed=spec.seed)
    wtype = work_type(spec.work_type)
    with node_client(topo, node, timeout_s=10.0) as client:
        wm = WorkManagerClient(client, prefix=spec.prefix)
        wm.load_scripts()
        keys = wm.commands(spec.queue_id).keys
        mem0 = client.info("memory")
        baseline = mem0["used_memory"]
        say(f"memory wall: maxmemory {spec.maxmemory} B, baseline used_memory {baseline} B, "
            f"{wtype.name} works of ≈{wtype.size_bytes} B")
        t0 = time.time()
        exp.event("burst_start", t=t0, used_memory=baseline, schedule_rate=spec.schedule_rate,
                  consume_rate=spec.consume_rate)
        consumer = _Consumer(topo, node, spec) if spec.consume_rate > 0 else None
        sizes: list[int] = []
        acked = 0
        first_oom: str | None = None
        interval = 1.0 / spec.schedule_rate
        next_t = time.monotonic()
        try:
            while first_oom is None and time.time() - t0 < spec.timeout_s:
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_t = max(next_t + interval, time.monotonic())  # open loop, no catch-up burst
                wid = f"mw{spec.seed}.{acked}"
                size = factory.size_of(wtype)
                try:
                    wm.schedule(spec.queue_id, wid, factory.payload(wid, size, wtype.java_class))
                except redis.ResponseError as exc:
                    if not _is_oom(exc):
                        raise
                    first_oom = f"OOM {exc}" if not str(exc).startswith("OOM") else str(exc)
                    break
                acked += 1
                sizes.append(size)
        finally:
            consumed = consumer.stop() if consumer else 0
        wall_t = time.time()
        if first_oom is None:
            return {"acked": acked, "backlog_at_wall": None}
        mem = client.info("memory")
        backlog = client.llen(keys.queue)
        counters = wm.counters(spec.queue_id)
        exp.event("oom", t=wall_t, backlog=backlog, used_memory=mem["used_memory"])
        say(f"OOM after {acked} works: backlog {backlog}, used_memory {mem['used_memory']} B")
        refused = 0
        for i in range(spec.confirm):
            wid = f"mw{spec.seed}.confirm.{i}"
            try:
                wm.schedule(spec.queue_id, wid, factory.payload(wid, factory.size_of(wtype), wtype.java_class))
            except redis.ResponseError as exc:
                if not _is_oom(exc):
                    raise
                refused += 1
        popped = 0
        pop_error = None
        for _ in range(spec.drain):
            try:
                work = wm.pop(spec.queue_id)
                if work is None:
                    break
                wm.completed(spec.queue_id, work.work_id)
                popped += 1
            except redis.ResponseError as exc:
                pop_error = str(exc).split("\n")[0][:120]
                break
        wid = f"mw{spec.seed}.after-drain"
        try:
            wm.schedule(spec.queue_id, wid, factory.payload(wid, factory.size_of(wtype), wtype.java_class))
            schedule_after_drain = True
        except redis.ResponseError:
            schedule_after_drain = False
        mem_end = client.info("memory")
    payload_mean = statistics.fmean(sizes) if sizes else float(wtype.size_bytes)
    grown = mem["used_memory"] - baseline
    room = spec.maxmemory - baseline
    rule_per_work = RULE_PAYLOAD_FACTOR * payload_mean + RULE_PER_WORK_BYTES
    result = {
        "work_type": wtype.name,
        "payload_bytes_mean": round(payload_mean, 1),
        "maxmemory_bytes": spec.maxmemory,
        "baseline_used_memory_bytes": baseline,
        "scenario": spec.scenario,
        "queue_id": spec.queue_id,
        "schedule_rate": spec.schedule_rate,
        "consume_rate": spec.consume_rate,
        "acked": acked,
        "consumed_before_wall": consumed,
        "backlog_at_wall": backlog,
        "counters_at_wall": counters._asdict(),
        "used_memory_at_wall_bytes": mem["used_memory"],
        "used_memory_dataset_at_wall_bytes": mem.get("used_memory_dataset"),
        "used_memory_rss_at_wall_bytes": mem.get("used_memory_rss"),
        "mem_allocator": mem.get("mem_allocator"),
        "bytes_per_work_measured": round(grown / backlog, 1) if backlog else None,
        "time_to_wall_s": round(wall_t - t0, 3),
        "first_oom_error": first_oom.split("\n")[0][:160],
        "refused_after_wall": refused,
        "confirm_attempts": spec.confirm,
        "popped_at_wall": popped,
        "pop_error_at_wall": pop_error,
        "schedule_after_drain_ok": schedule_after_drain,
        "used_memory_end_bytes": mem_end["used_memory"],
        "rule_of_thumb": {"bytes_per_work": round(rule_per_work, 1),
                          "predicted_backlog": int(room // rule_per_work),
                          "error_pct": _err(int(room // rule_per_work), backlog)},
    }
    return result


class _Consumer(threading.Thread):
    """Drains the queue at ``consume_rate`` works/s (pop-work, completed-work) on its own connection."""

    def __init__(self, topo, node, spec: MemoryWallSpec):
        super().__init__(name="memory-wall-consumer", daemon=True)
        self.spec = spec
        self.client = node_client(topo, node, timeout_s=10.0)
        self.done = 0
        self.error: str | None = None
        self._halt = threading.Event()
        self.start()

    def run(self) -> None:
        wm = WorkManagerClient(self.client, prefix=self.spec.prefix)
        interval = 1.0 / self.spec.consume_rate
        while not self._halt.wait(interval):
            try:
                work = wm.pop(self.spec.queue_id)
                if work is not None:
                    wm.completed(self.spec.queue_id, work.work_id)
                    self.done += 1
            except (redis.RedisError, OSError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                return

    def stop(self) -> int:
        """Stop and return how many works were completed."""
        self._halt.set()
        self.join(timeout=5.0)
        self.client.close()
        return self.done


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, redis.exceptions.OutOfMemoryError) or str(exc).startswith("OOM")


def _err(predicted: float, measured: float) -> float | None:
    return round(100.0 * (predicted - measured) / measured, 2) if measured else None
