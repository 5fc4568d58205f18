"""The restart experiment (``rcap restart-test``): how many pending jobs survive a Redis restart under
each persistence setting (none, rdb, aof everysec).

For each setting: a standalone node gets ``works`` scheduled works, consumers complete
``completed_fraction`` of them, the node is stopped (``kill`` = SIGKILL, a crash; ``term`` = SIGTERM,
a clean shutdown that saves an RDB if save points are set) and started again with the same files; the
works still pending are counted, and the restart time (start → PING answers with the data loaded).

Note on ``aof`` everysec: SIGKILL ends the process, not the machine. Redis has already written each
acknowledged command to the AOF with write(2) before replying, so the kernel keeps it; the "up to one
second lost" of everysec applies to a host crash or power loss, which a lab process kill cannot show.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path


from rcapcore.errors import BadInput
from rcap.failover.nodes import node_client
from rcap.failover.record import ExperimentRun
from rcapcore.nuxeo.keys import check_prefix
from rcapcore.nuxeo.payloads import PayloadFactory, work_type
from rcapcore.nuxeo.scripts import SCRIPTS, WORK_SCRIPT_NAMES
from loadgen.nuxeo.workmanager import WorkManagerClient
from rcapcore.paths import RUNS, STATE
from loadgen.topology.lab import up
from loadgen.topology.redisconf import PERSISTENCE

SIGNALS = {"kill": signal.SIGKILL, "term": signal.SIGTERM}


@dataclass(frozen=True)
class RestartSpec:
    """``works`` scheduled per setting (of ``work_type``), ``completed_fraction`` of them completed
    before the stop; ``stop`` is ``kill`` or ``term``; ``settle_ms`` waits between the last write and
    the stop (ms)."""

    persistence: tuple[str, ...] = PERSISTENCE
    works: int = 2000
    completed_fraction: float = 0.25
    work_type: str = "fulltextExtractor"
    queue_id: str = "default"
    stop: str = "kill"
    settle_ms: int = 0
    prefix: str = "rcap:"
    seed: int = 0
    base_dir: str = str(STATE)
    restart_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        bad = [p for p in self.persistence if p not in PERSISTENCE]
        if bad or not self.persistence:
            raise BadInput(f"--persistence takes a list among {', '.join(PERSISTENCE)}, got {','.join(bad) or 'nothing'}")
        if self.works < 1:
            raise BadInput(f"--works must be ≥ 1, got {self.works}")
        if not 0 <= self.completed_fraction < 1:
            raise BadInput(f"--completed-fraction must be in [0, 1), got {self.completed_fraction}")
        if self.stop not in SIGNALS:
            raise BadInput(f"--stop must be one of {', '.join(SIGNALS)}, got {self.stop!r}")
        work_type(self.work_type)
        check_prefix(self.prefix)


def run_restart(spec: RestartSpec, out: str | Path = RUNS, *, log=None) -> Path:
    """Run the restart test for each persistence setting; returns the path of ``result.json``."""
    say = log or (lambda _line: None)
    exp = ExperimentRun(out, f"restart-{spec.stop}", "restart", spec)
    settings: list[dict] = []
    status, error = "complete", None
    try:
        for persistence in spec.persistence:
            say(f"restart test: persistence {persistence}, {spec.works} works, stop by {spec.stop}")
            settings.append(_one(spec, persistence, exp))
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as exc:  # noqa: BLE001  (recorded as a failed run, never left "running")
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    result = {"experiment": "restart", "stop": spec.stop, "seed": spec.seed, "works": spec.works,
              "settings": settings,
              "survived_by_persistence": {s["persistence"]: s["survived"] for s in settings}}
    return exp.finish(result, status, error)


def _one(spec: RestartSpec, persistence: str, exp: ExperimentRun) -> dict:
    topo = up("standalone", persistence=persistence, base_dir=spec.base_dir)
    try:
        exp.watch(topo, label=persistence)
        node = topo.nodes_with_role("master")[0]
        factory = PayloadFactory(seed=spec.seed)
        wtype = work_type(spec.work_type)
        with node_client(topo, node) as client:
            wm = WorkManagerClient(client, prefix=spec.prefix)
            wm.load_scripts()
            for i in range(spec.works):
                wid = f"rs{spec.seed}.{i}"
                wm.schedule(spec.queue_id, wid, factory.payload(wid, factory.size_of(wtype), wtype.java_class))
            completed = 0
            for _ in range(int(spec.works * spec.completed_fraction)):
                popped = wm.pop(spec.queue_id)
                if popped is None:
                    break
                wm.completed(spec.queue_id, popped.work_id)
                completed += 1
            before = wm.counters(spec.queue_id)
            pending_before = client.llen(wm.commands(spec.queue_id).keys.queue)
            used_before = client.info("memory")["used_memory"]
        if spec.settle_ms:
            time.sleep(spec.settle_ms / 1000.0)
        stop_t = time.time()
        exp.event("node_stop", t=stop_t, persistence=persistence, signal=spec.stop, pending=pending_before)
        topo.kill_node(node, SIGNALS[spec.stop])
        start_t = time.time()
        node = topo.start_node(node, timeout_s=spec.restart_timeout_s)
        with node_client(topo, node, timeout_s=5.0) as client:
            deadline = time.monotonic() + spec.restart_timeout_s
            while client.info("persistence").get("loading", 0) and time.monotonic() < deadline:
                time.sleep(0.01)
            ready_t = time.time()
            wm = WorkManagerClient(client, prefix=spec.prefix)
            pending_after = client.llen(wm.commands(spec.queue_id).keys.queue)
            after = wm.counters(spec.queue_id)
            # Nuxeo reloads its scripts on NOSCRIPT after a restart: say whether it will have to.
            scripts_cached = all(client.script_exists(*[SCRIPTS[n].sha for n in WORK_SCRIPT_NAMES]))
            persisted = client.info("persistence")
        exp.event("node_ready", t=ready_t, persistence=persistence, pending=pending_after)
        exp.unwatch()
        return {
            "persistence": persistence,
            "scheduled": spec.works,
            "completed_before_stop": completed,
            "pending_before": pending_before,
            "pending_after": pending_after,
            "survived": pending_after,
            "lost": pending_before - pending_after,
            "survived_fraction": round(pending_after / pending_before, 4) if pending_before else None,
            "counters_before": before._asdict(),
            "counters_after": after._asdict(),
            "used_memory_before_bytes": used_before,
            "restart_ms": round((ready_t - start_t) * 1000.0, 1),
            "scripts_survived": scripts_cached,
            "aof_enabled": persisted.get("aof_enabled"),
            "rdb_last_save_time": persisted.get("rdb_last_save_time"),
        }
    finally:
        exp.unwatch()
        topo.down()

