"""A Nuxeo node stops (``rcap node-stop``): do the jobs survive a node going away, and what does a crash leave?

``nodes`` emulated Nuxeo nodes (:mod:`rcap.failover.nuxeo_node`, one process each, with the worker threads
of one queue) consume works that this controller schedules at a steady ``rate``. At ``at_s`` one node stops:

- ``graceful``: SIGTERM → ``shutdownAndSuspend`` (queue inactive, every running work rescheduled with
  ``cancelled-running-work``, threads interrupted);
- ``crash``: SIGKILL; the node makes no further Redis call.

The others run to ``duration_s``; scheduling stops, the survivors drain the queue. Then an exact audit of
every acknowledged work id (Redis end state + every node's event log), the memory the orphans hold
(``MEMORY USAGE`` of the data, state and run keys, which hold nothing else by then), and, after a crash,
the poison test: a sample of orphaned ids is scheduled again and the survivors' ``pop-work`` cycles them
(measured from ``INFO commandstats``) without ever running them.

Keys live under a per-run prefix (``<prefix>ns<token>:``) so the counters start at zero and the run deletes
exactly its own keys at the end (SCAN, never KEYS/FLUSH). This is experiment cleanup, not the orphan
recovery procedure of docs/failover.md, which rcap never runs on its own.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from rcapcore.errors import BadInput, TargetError
from rcap.failover.record import ExperimentRun
from rcapcore.nuxeo.keys import check_prefix
from rcapcore.nuxeo.payloads import PayloadFactory, nanotime_work_id, work_type
from loadgen.nuxeo.workmanager import WorkManagerClient
from rcapcore.paths import RUNS, STATE
from loadgen.topology.targets import Target, connect, describe_error
from rcapcore.topologies import EXTERNAL, names

MODES = ("graceful", "crash")
TOPOLOGIES = names(proxied=False, sharded=False)  # nodes reached directly, one master
TERMINAL = {"C", "R", "S"}  # events that end a popped work on its node


@dataclass(frozen=True)
class NodeStopSpec:
    """``nodes`` emulated Nuxeo nodes with ``threads`` worker threads each on ``queue_id``; works of
    ``work_type`` scheduled at ``rate`` works/s and processed in ``work_ms`` ms; one node stops at ``at_s``
    (s from the load start) in ``mode``; the load runs ``duration_s`` s, then drains for up to ``drain_s``.
    Crash mode re-schedules up to ``poison_sample`` orphaned ids and watches them for ``poison_window_s``.
    ``interruptible`` = False: works ignore the shutdown's interrupt and finish (then are given up as
    suspended and run again elsewhere: a graceful stop then runs them twice)."""

    mode: str = "crash"
    topology: str = "standalone"
    nodes: int = 3
    threads: int = 4
    at_s: float = 10.0
    duration_s: float = 40.0
    rate: float = 60.0
    work_ms: float = 100.0
    work_type: str = "fulltextExtractor"
    queue_id: str = "default"
    drain_s: float = 30.0
    poison_sample: int = 5
    poison_window_s: float = 3.0
    interruptible: bool = True
    prefix: str = "rcap:"
    seed: int = 0
    base_dir: str = str(STATE)

    def __post_init__(self) -> None:
        for name in ("at_s", "duration_s", "rate", "work_ms", "drain_s", "poison_window_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise BadInput(f"{name.replace('_s', '').replace('_', '-')} must be a finite number, got {v!r}")
        if self.mode not in MODES:
            raise BadInput(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.topology not in (*TOPOLOGIES, EXTERNAL):
            raise BadInput(f"--topology must be one of {', '.join(TOPOLOGIES)}, got {self.topology!r}")
        if not 2 <= self.nodes <= 32:
            raise BadInput(f"--nodes must be between 2 and 32 (one stops, the others must survive), got {self.nodes}")
        if not 1 <= self.threads <= 64:
            raise BadInput(f"--threads must be between 1 and 64, got {self.threads}")
        if not 0 < self.at_s < self.duration_s:
            raise BadInput(f"--at must be > 0 and < --duration, got {self.at_s:g} s and {self.duration_s:g} s")
        if self.rate <= 0 or self.work_ms < 0 or self.drain_s <= 0 or self.poison_window_s <= 0:
            raise BadInput("--rate, --drain and the poison window must be > 0 and --work-ms ≥ 0")
        capacity = self.nodes * self.threads * 1000.0 / max(self.work_ms, 1.0)
        if self.rate >= 0.9 * (self.nodes - 1) / self.nodes * capacity:
            raise BadInput(f"--rate {self.rate:g} works/s would not be drained by the surviving nodes "
                           f"(capacity ≈ {(self.nodes - 1) / self.nodes * capacity:.0f} works/s)")
        if self.poison_sample < 0:
            raise BadInput("--poison-sample must be ≥ 0")
        work_type(self.work_type)
        check_prefix(self.prefix)


# --- the node processes ---------------------------------------------------------------------------


class NodeProcess:
    """A running :mod:`nuxeo_node` process and its event log."""

    def __init__(self, name: str, log: Path, cfg: dict):
        self.name, self.log = name, log
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "rcap.failover.nuxeo_node"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                     start_new_session=True)
        self.proc.stdin.write(json.dumps({**cfg, "name": name, "log": str(log)}).encode())
        self.proc.stdin.close()

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.log.exists() and b"ready main" in self.log.read_bytes():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self._stderr()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:g} s")

    def _stderr(self) -> str:
        try:
            err = self.proc.stderr.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return "?"
        return err[-1][:200] if err else f"exit {self.proc.returncode}"

    def graceful(self, timeout_s: float = 40.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        self.kill()
        if self.proc.stderr:
            self.proc.stderr.close()


@dataclass
class NodeEvents:
    """One node's log, parsed: what it popped, executed, completed, rescheduled, and what was in flight."""

    popped: list[tuple[float, str]]            # (time, id)
    executed: dict[str, int]
    completed: set[str]
    rescheduled: set[str]
    in_flight: set[str]                        # popped, no C/R/S after
    completing: set[str]                       # completed-work sent, no reply logged (crash ambiguity)
    pending_pops: int                          # threads whose last line is a pop request (crash ambiguity)
    lines: int
    holds: list[tuple[float, float | None]]    # (pop time, end time or None): a work's run-set entry, this node


def parse_log(path: Path) -> NodeEvents:
    popped, executed, completed, resched, holds = [], {}, set(), set(), []
    open_ids: dict[str, list] = {}  # id → [last event, pop time]
    last_by_thread: dict[str, str] = {}
    text = path.read_text() if path.exists() else ""
    lines = text.splitlines()
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue  # a line cut by SIGKILL cannot happen (one write per line); skip blanks
        t, ev, thread = float(parts[0]), parts[1], parts[2]
        last_by_thread[thread] = ev
        if len(parts) < 4:
            continue
        wid = parts[3]
        if ev == "P":
            popped.append((t, wid))
            open_ids[wid] = ["P", t]
        elif ev == "X":
            executed[wid] = executed.get(wid, 0) + 1
        elif ev == "c" and wid in open_ids:
            open_ids[wid][0] = "c"
        elif ev in TERMINAL:
            entry = open_ids.pop(wid, None)
            if entry is not None:
                holds.append((entry[1], t))
            (completed if ev == "C" else resched if ev == "R" else set()).add(wid)
    holds += [(e[1], None) for e in open_ids.values()]
    return NodeEvents(popped, executed, completed, resched, {w for w, e in open_ids.items() if e[0] == "P"},
                      {w for w, e in open_ids.items() if e[0] == "c"},
                      sum(1 for th, e in last_by_thread.items() if e == "q" and th != "main"), len(lines), holds)


def time_average_running(holds: list[tuple[float, float | None]], start: float, end: float) -> float:
    """Mean number of this node's works in the run set over [start, end] (works): ∫ count dt / (end − start)."""
    if end <= start:
        return 0.0
    total = sum(max(0.0, min(e if e is not None else end, end) - max(p, start)) for p, e in holds)
    return total / (end - start)


# --- the controller ----------------------------------------------------------------------------------


class Scheduler(threading.Thread):
    """Schedules works at ``rate`` works/s (open loop) until stopped; records every acknowledged id."""

    def __init__(self, wm: WorkManagerClient, spec: NodeStopSpec):
        super().__init__(name="node-stop-scheduler", daemon=True)
        self.wm, self.spec = wm, spec
        self.factory = PayloadFactory(spec.seed)
        self.wtype = work_type(spec.work_type)
        self.rng = __import__("random").Random(spec.seed)
        self.acked: dict[str, float] = {}
        self.payload_bytes: list[int] = []
        self.errors = 0
        self.halt = threading.Event()

    def run(self) -> None:
        interval = 1.0 / self.spec.rate
        next_t = time.monotonic()
        while not self.halt.is_set():
            delay = next_t - time.monotonic()
            if delay > 0 and self.halt.wait(delay):
                break
            next_t = max(next_t + interval, time.monotonic() - 1.0)  # catch up at most 1 s
            wid = nanotime_work_id(self.rng)
            size = self.factory.size_of(self.wtype)
            try:
                self.wm.schedule(self.spec.queue_id, wid, self.factory.payload(wid, size, self.wtype.java_class))
            except (redis.RedisError, OSError):
                self.errors += 1
                continue
            self.acked[wid] = time.time()
            self.payload_bytes.append(size)


def _commandstats(client) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items() if isinstance(v, dict)}


def _delta(after: dict, before: dict, names) -> dict[str, int]:
    return {n: after.get(n, 0) - before.get(n, 0) for n in names}


def _memory_usage(client, key: str) -> int:
    return int(client.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)


def run_node_stop(spec: NodeStopSpec, out: str | Path = RUNS, *, target: Target | None = None,
                  log=None) -> Path:
    """Run the experiment against ``target`` (or a local ``spec.topology`` started for it); returns the
    path of ``result.json``."""
    say = log or (lambda _line: None)
    topo = None
    if target is None:
        from loadgen.topology.lab import up  # noqa: PLC0415

        topo = up(spec.topology, base_dir=spec.base_dir)
        target = topo.target
    client = connect(target, socket_timeout=10.0)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        if topo is not None:
            topo.down()
        raise TargetError(describe_error(target, exc)) from None
    exp = ExperimentRun(out, f"node-stop-{spec.mode}", "node-stop", spec,
                        secrets=[target.password] if target.password else [])
    if topo is not None:
        exp.watch(topo)
    run_prefix = f"{spec.prefix}ns{secrets.token_hex(3)}:"
    nodes: list[NodeProcess] = []
    status, error, result = "complete", None, {}
    try:
        result = _run(spec, target, run_prefix, exp, nodes, client, say)
        if result.get("interrupted"):
            status = "interrupted"
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as exc:  # noqa: BLE001  (recorded as a failed run, never left "running")
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        for n in nodes:
            n.close()
        try:
            _cleanup(client, run_prefix)
        except (redis.RedisError, OSError):
            pass
        client.close()
        try:
            path = exp.finish({"experiment": "node-stop", "mode": spec.mode, "target": target.url,
                               "topology": spec.topology, **result}, status, error)
        finally:
            if topo is not None:
                topo.down()
    return path


def _cleanup(client, run_prefix: str) -> int:
    """Delete the keys this run created (everything under its own prefix), SCAN not KEYS."""
    keys = list(client.scan_iter(match=run_prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


def _run(spec: NodeStopSpec, target: Target, run_prefix: str, exp: ExperimentRun, nodes: list[NodeProcess],
         client, say) -> dict:
    logs_dir = exp.run.path / "nodes"
    logs_dir.mkdir()
    wm = WorkManagerClient(client, prefix=run_prefix)
    wm.load_scripts()
    keys = wm.commands(spec.queue_id).keys
    cfg = {"target": target.to_dict(with_password=True), "prefix": run_prefix, "queue_id": spec.queue_id,
           "threads": spec.threads, "work_ms": spec.work_ms, "seed": spec.seed,
           "interruptible": spec.interruptible}
    for i in range(spec.nodes):
        name = f"node-{i + 1}"
        nodes.append(NodeProcess(name, logs_dir / f"{name}.log", cfg))
    for n in nodes:
        n.wait_ready()
    victim, survivors = nodes[0], nodes[1:]
    say(f"node-stop: {spec.nodes} nodes × {spec.threads} threads, {spec.rate:g} works/s of {spec.work_ms:g} ms; "
        f"{victim.name} stops ({spec.mode}) at {spec.at_s:g} s of {spec.duration_s:g} s")
    sched_wm = WorkManagerClient(connect(target, socket_timeout=10.0), prefix=run_prefix)
    scheduler = Scheduler(sched_wm, spec)
    interrupted = False
    t0 = time.time()
    exp.event("load_start", t=t0, rate=spec.rate, nodes=spec.nodes, threads=spec.threads)
    scheduler.start()
    try:
        time.sleep(spec.at_s)
        stop_t = time.time()
        before_stop = parse_log(victim.log)
        if spec.mode == "crash":
            victim.kill()
            exp.event("node_crash", t=stop_t, node=victim.name, signal="SIGKILL")
            stop_exit = None
        else:
            exp.event("node_stop", t=stop_t, node=victim.name, signal="SIGTERM")
            stop_exit = victim.graceful()
            exp.event("node_stopped", t=time.time(), node=victim.name, exit=stop_exit)
        say(f"{victim.name} stopped ({spec.mode}) at {stop_t - t0:.1f} s")
        try:
            time.sleep(max(0.0, spec.duration_s - (time.time() - t0)))
        except KeyboardInterrupt:  # the stop is measured: cut the load short, still drain and audit
            interrupted = True
            say("interrupted: draining and auditing what was scheduled (Ctrl-C again to abort)")
    finally:
        scheduler.halt.set()
        scheduler.join(timeout=15.0)
        sched_wm.redis.close()
    load_end = time.time()
    exp.event("load_end", t=load_end, acked=len(scheduler.acked))
    drained, drain_s = _drain(client, keys, survivors, spec.drain_s)
    exp.event("drained" if drained else "drain_timeout", t=time.time(), drain_s=round(drain_s, 3))
    say(f"scheduled {len(scheduler.acked)} works; drain {'done' if drained else 'timed out'} in {drain_s:.1f} s")

    victim_ev = parse_log(victim.log)
    events = {n.name: parse_log(n.log) for n in nodes}
    audit = audit_works(wm, spec.queue_id, list(scheduler.acked), events)
    counters = _counters(wm, client, spec.queue_id)
    orphan_bytes = {name: _memory_usage(client, k) for name, k in
                    (("data", keys.data), ("state", keys.state), ("run", keys.run))}
    in_flight = victim_ev.in_flight if spec.mode == "crash" else set()
    orphan_ids = set(audit.pop("_orphan_ids"))
    crash = None
    if spec.mode == "crash":
        crash = {
            "in_flight_at_crash": len(in_flight),
            "completing_at_crash": len(victim_ev.completing),
            "pending_pops_at_crash": victim_ev.pending_pops,
            "orphaned_equals_in_flight": orphan_ids == in_flight,
            "in_flight_not_orphaned": len(in_flight - orphan_ids),
            "orphaned_not_in_flight": len(orphan_ids - in_flight),
            "orphaned_executed": sum(1 for w in orphan_ids if victim_ev.executed.get(w)),
        }
    node_stats = _node_rates(victim, before_stop, t0, stop_t, spec)
    model = _model(spec, node_stats, scheduler, run_prefix, audit)
    poisoned = None
    if spec.mode == "crash" and orphan_ids and spec.poison_sample:
        poisoned = _poison(spec, client, wm, keys, survivors, sorted(orphan_ids)[: spec.poison_sample], exp, say)
    result = {
        "nodes": spec.nodes, "threads": spec.threads, "rate": spec.rate, "work_ms": spec.work_ms,
        "interruptible": spec.interruptible,
        "at_s": spec.at_s, "duration_s": spec.duration_s, "stopped_node": victim.name,
        "stop_exit": stop_exit, "drained": drained, "drain_s": round(drain_s, 3),
        "schedule_errors": scheduler.errors,
        **audit,
        "orphaned_bytes": sum(orphan_bytes.values()) if orphan_ids else 0,
        "orphaned_bytes_by_key": orphan_bytes if orphan_ids else {},
        "orphaned_bytes_per_work": round(sum(orphan_bytes.values()) / len(orphan_ids), 1) if orphan_ids else None,
        "counters": counters,
        "counter_drift_running": counters["count_running"] - counters["scard_run"],
        "crash": crash,
        "stopped_node_rates": node_stats,
        "model": model,
        "poisoned": poisoned,
        "await_completion_finishes": counters["count_running"] == 0 and counters["count_scheduled"] == 0,
        "node_log_lines": {k: v.lines for k, v in events.items()},
        "interrupted": interrupted,
    }
    for n in survivors:
        n.graceful()
    result["processes_left"] = sum(1 for n in nodes if n.proc.poll() is None)
    result["node_pids"] = [n.proc.pid for n in nodes]
    return result


def _drain(client, keys, survivors: list[NodeProcess], timeout_s: float) -> tuple[bool, float]:
    """Wait until the queue and sched set are empty and no survivor has a work in flight."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if client.llen(keys.queue) == 0 and client.scard(keys.sched) == 0:
            if not any(parse_log(n.log).in_flight or parse_log(n.log).completing for n in survivors):
                return True, time.monotonic() - start
        time.sleep(0.2)
    return False, time.monotonic() - start


def audit_works(wm: WorkManagerClient, queue_id: str, acked: list[str], events: dict[str, NodeEvents]) -> dict:
    """Classify every acknowledged id from Redis (where it is now) and the nodes' logs (what ran).

    ``completed`` (never rescheduled) + ``rescheduled_then_completed`` + ``orphaned_running`` + ``lost``
    = ``acked``. A completed id is absent from Redis; ``completed_twice`` counts those whose processing
    ran on two nodes or twice (side effects done twice). ``lost``: neither in Redis nor ever executed.
    """
    where = wm.audit(queue_id, acked)
    executed: dict[str, int] = {}
    resched: set[str] = set()
    for ev in events.values():
        for w, k in ev.executed.items():
            executed[w] = executed.get(w, 0) + k
        resched |= ev.rescheduled
    out = {"acked": len(acked), "completed": 0, "rescheduled": 0, "rescheduled_then_completed": 0,
           "completed_once": 0, "completed_twice": 0, "orphaned_running": 0, "lost": 0,
           "lost_still_queued": 0, "lost_orphaned_data": 0}
    orphans = []
    for wid in acked:
        a = where[wid]
        if wid in resched:
            out["rescheduled"] += 1
        if a.running:
            out["orphaned_running"] += 1
            orphans.append(wid)
        elif a.status == "absent" and executed.get(wid):
            key = "rescheduled_then_completed" if wid in resched else "completed"
            out[key] += 1
            out["completed_once" if executed[wid] == 1 else "completed_twice"] += 1
        else:
            out["lost"] += 1
            if a.status == "scheduled":
                out["lost_still_queued"] += 1
            elif a.status == "orphaned":
                out["lost_orphaned_data"] += 1
    out["audit_adds_up"] = (out["completed"] + out["rescheduled_then_completed"] + out["orphaned_running"]
                            + out["lost"]) == out["acked"]
    out["_orphan_ids"] = orphans
    return out


def _counters(wm: WorkManagerClient, client, queue_id: str) -> dict:
    keys = wm.commands(queue_id).keys
    c = wm.counters(queue_id)
    return {"count_scheduled": c.scheduled, "count_running": c.running, "count_completed": c.completed,
            "count_canceled": c.canceled, "scard_run": client.scard(keys.run), "scard_sched": client.scard(keys.sched),
            "llen_queue": client.llen(keys.queue), "hlen_data": client.hlen(keys.data),
            "hlen_state": client.hlen(keys.state)}


def _node_rates(victim: NodeProcess, before: NodeEvents, t0: float, stop_t: float, spec: NodeStopSpec) -> dict:
    """The stopped node's completion rate before the stop (works/s), the mean time a work held its run-set
    entry (pop → completed-work, ms) and the time-average number of works it had running (Little's L),
    from its log, over the steady part of the load: from a warm-up (min(at/2, 1 s + processing time)) to the stop."""
    start = t0 + min(0.5 * spec.at_s, 1.0 + spec.work_ms / 1000.0)
    window = stop_t - start
    done = [(p, e) for p, e in before.holds if e is not None and start <= e <= stop_t]
    return {"completed_in_window": len(done), "window_s": round(window, 3),
            "completion_rate_per_s": round(len(done) / window, 3) if window > 0 else None,
            "mean_hold_ms": round(1000.0 * sum(e - p for p, e in done) / len(done), 2) if done else None,
            "time_average_running": round(time_average_running(before.holds, start, stop_t), 3)}


def _model(spec: NodeStopSpec, node_stats: dict, scheduler: Scheduler, run_prefix: str, audit: dict) -> dict:
    """Little's law: works running on the stopped node at the stop ≈ its completion rate × time a work holds
    its run-set entry; measured = orphaned (crash) or rescheduled (graceful)."""
    from analysis.nodestop import orphan_bytes_per_work, orphans_per_stop  # noqa: PLC0415

    rate = node_stats["completion_rate_per_s"] or 0.0
    predicted = orphans_per_stop(rate, spec.work_ms / 1000.0)
    a_priori = orphans_per_stop(spec.rate / spec.nodes, spec.work_ms / 1000.0)
    measured = audit["orphaned_running"] if spec.mode == "crash" else audit["rescheduled"]
    sizes = scheduler.payload_bytes
    payload = round(sum(sizes) / len(sizes)) if sizes else work_type(spec.work_type).size_bytes
    per_work = orphan_bytes_per_work(payload, id_bytes=len(next(iter(scheduler.acked), "x" * 24)),
                                     prefix=run_prefix, queue=spec.queue_id, n=max(1, measured))
    return {"predicted_works": round(predicted, 3), "predicted_works_a_priori": round(a_priori, 3),
            "measured_works": measured, "time_average_running": node_stats["time_average_running"],
            "little_l_measured_w": (round(rate * node_stats["mean_hold_ms"] / 1000.0, 3)
                                    if node_stats["mean_hold_ms"] is not None else None),
            "error_works": round(measured - predicted, 3),
            "payload_bytes_mean": payload,
            "predicted_bytes_per_work": round(per_work, 1),
            "predicted_bytes": round(per_work * predicted, 1)}


def _poison(spec: NodeStopSpec, client, wm: WorkManagerClient, keys, survivors: list[NodeProcess],
            sample: list[str], exp: ExperimentRun, say) -> dict:
    """Schedule ``sample`` orphaned ids again; count how many ever run and what the cycling costs, with the
    survivors idle and under a burst of load at ``spec.rate`` (each measured before and after poisoning)."""
    names = ("evalsha", "rpop", "lpush", "sismember")
    w = spec.poison_window_s
    base0 = _commandstats(client)
    time.sleep(w)
    base1 = _commandstats(client)
    load_base = _burst(spec, client, wm, survivors, "base")
    factory = PayloadFactory(spec.seed + 1)
    wtype = work_type(spec.work_type)
    t_resched = time.time()
    marks = {n.name: parse_log(n.log).lines for n in survivors}
    for wid in sample:
        wm.schedule(spec.queue_id, wid, factory.payload(wid, factory.size_of(wtype), wtype.java_class))
    exp.event("poison_scheduled", t=t_resched, ids=len(sample))
    p0 = _commandstats(client)
    time.sleep(w)
    p1 = _commandstats(client)
    load_pois = _burst(spec, client, wm, survivors, "poisoned")
    ran = set()
    for n in survivors:
        lines = n.log.read_text().splitlines()[marks[n.name]:]
        ran |= {p[3] for p in (ln.split() for ln in lines) if len(p) > 3 and p[1] == "P"}
    ran &= set(sample)
    base, pois = _delta(base1, base0, names), _delta(p1, p0, names)
    # in the idle windows nothing schedules: every LPUSH is a pop-work pushing a running id back
    out = {"sample": len(sample), "never_ran": len(sample) - len(ran), "ran": len(ran),
           "window_s": w,
           "cycling_pop_work_per_s": round(pois["lpush"] / w, 2),
           "pop_work_per_s_baseline": round(base["rpop"] / w, 2),
           "pop_work_per_s_poisoned": round(pois["rpop"] / w, 2),
           "extra_pop_work_per_s": round((pois["rpop"] - base["rpop"]) / w, 2),
           "inner_commands_per_s_baseline": round(sum(base[n] for n in names[1:]) / w, 2),
           "inner_commands_per_s_poisoned": round(sum(pois[n] for n in names[1:]) / w, 2),
           "under_load": {"rate": spec.rate, "baseline": load_base, "poisoned": load_pois,
                          "extra_pop_work_per_s": round(load_pois["pop_work_per_s"] - load_base["pop_work_per_s"], 2)},
           "queue_length_after": client.llen(keys.queue)}
    say(f"poison: {out['never_ran']}/{len(sample)} re-scheduled orphan ids never ran; "
        f"{out['cycling_pop_work_per_s']} cycling pop-work/s idle, "
        f"{load_pois['cycling_pop_work_per_s']} under load")
    return out


def _burst(spec: NodeStopSpec, client, wm: WorkManagerClient, survivors: list[NodeProcess], label: str) -> dict:
    """Schedule at ``spec.rate`` for the poison window and wait for those works; from commandstats: pop-work/s
    (one RPOP each), cycling pop-work/s (LPUSH beyond the schedules) and pops per completed work."""
    w = spec.poison_window_s
    factory = PayloadFactory(spec.seed + (7 if label == "base" else 8))
    wtype = work_type(spec.work_type)
    ids = []
    c0, t0 = _commandstats(client), time.monotonic()
    interval, next_t = 1.0 / spec.rate, time.monotonic()
    while time.monotonic() - t0 < w:
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_t += interval
        wid = f"burst-{label}.{len(ids)}"
        wm.schedule(spec.queue_id, wid, factory.payload(wid, factory.size_of(wtype), wtype.java_class))
        ids.append(wid)
    pending, deadline = set(ids), time.monotonic() + spec.drain_s
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        for n in survivors:
            pending -= parse_log(n.log).completed
    span = time.monotonic() - t0
    d = _delta(_commandstats(client), c0, ("rpop", "lpush"))
    done = len(ids) - len(pending)
    return {"scheduled": len(ids), "completed": done, "span_s": round(span, 3),
            "pop_work_per_s": round(d["rpop"] / span, 2),
            "cycling_pop_work_per_s": round((d["lpush"] - len(ids)) / span, 2),
            "pop_work_per_completed_work": round(d["rpop"] / done, 3) if done else None}
