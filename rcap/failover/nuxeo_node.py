"""One emulated Nuxeo node for ``rcap node-stop``: a process with the worker threads of one work queue.

Run as ``python -m rcap.failover.nuxeo_node`` with a JSON configuration on stdin (the target's
password travels there, never on the command line). Each thread has its own connection and follows
``WorkThreadPoolExecutor`` (spec §1.3–1.4, Corrections 3 and 11):

- pop-work; nothing → wait 1000 ± 200 ms; a work → *beforeExecute*: if the node is shutting down,
  ``cancelled-running-work`` (reschedule) and stop, else running-work and join the node's running list;
- processing (``work_ms``), which a shutdown interrupts (unless ``interruptible`` is false: a work that
  ignores the interrupt runs to its end, side effects included, and is then given up as suspended);
- *afterExecute*: a suspended work gives up (it was already rescheduled); if the node is shutting down,
  reschedule; else completed-work.

SIGTERM is the graceful stop (``shutdownAndSuspend``): the queue goes inactive, every work in the running
list is suspended and rescheduled with ``cancelled-running-work`` (from the main thread), then the threads
are interrupted and joined. SIGKILL is the crash: the process just ends.

Every step is appended to a per-node log with one ``write(2)`` per line, so what a SIGKILLed node did up to
its last system call is on disk. Line format ``<epoch s> <event> <thread> [<work id>]``:
``q`` pop requested, ``e`` pop returned nothing, ``P`` popped, ``X`` processing done (side effects),
``c`` completed-work sent, ``C`` completed-work acknowledged, ``R`` rescheduled (acknowledged),
``S`` suspended work gave up, ``ready``/``stopped`` for the node.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from typing import Any

from rcapcore.nuxeo.queues import idle_poll_interval_s
from loadgen.nuxeo.workmanager import WorkManagerClient
from loadgen.topology.targets import Target, connect


class NodeLog:
    """Append-only event log; one write(2) per line (survives SIGKILL of this process)."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __call__(self, *fields: str) -> None:
        os.write(self.fd, (f"{time.time():.6f} " + " ".join(fields) + "\n").encode())


class Node:
    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.target = Target.from_dict(cfg["target"])
        self.queue = cfg["queue_id"]
        self.work_s = float(cfg["work_ms"]) / 1000.0
        self.interruptible = bool(cfg.get("interruptible", True))
        self.log = NodeLog(cfg["log"])
        self.lock = threading.Lock()
        self.active = True                           # the queue is consumed on this node
        self.halt = threading.Event()                # shutdownNow(): interrupts processing and idle waits
        self.running: dict[str, list] = {}           # work id → [payload, suspended]
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True, name=f"w{i}")
                        for i in range(int(cfg["threads"]))]

    def _client(self) -> WorkManagerClient:
        return WorkManagerClient(connect(self.target, socket_timeout=10.0), prefix=self.cfg["prefix"])

    def start(self) -> None:
        wm = self._client()
        wm.load_scripts()
        wm.init_queue(self.queue)  # what a starting node does (recomputes the counters from the sets)
        self.main_wm = wm
        for t in self.threads:
            t.start()
        self.log("ready", "main")

    def _worker(self, i: int) -> None:
        name = f"t{i}"
        rng = random.Random(f"{self.cfg['seed']}-{self.cfg['name']}-{i}")
        wm = self._client()
        q, log = self.queue, self.log
        while not self.halt.is_set() and self.active:
            log("q", name)
            work = wm.pop(q)
            if work is None:
                log("e", name)
                self.halt.wait(idle_poll_interval_s(rng))
                continue
            wid, payload = work.work_id, work.payload
            log("P", name, wid)
            with self.lock:
                shutting_down = not self.active
            if shutting_down:  # beforeExecute after shutdown: reschedule, never run
                wm.cancel_running(q, wid, payload)
                log("R", name, wid)
                break
            wm.running(q, wid, payload)
            with self.lock:
                self.running[wid] = [payload, False]
            if self.interruptible:
                interrupted = self.halt.wait(self.work_s)
            else:  # a work that ignores the interrupt finishes (side effects done), then gives up if suspended
                time.sleep(self.work_s)
                interrupted = False
            if not interrupted:
                log("X", name, wid)
            with self.lock:
                _, suspended = self.running.pop(wid)
                shutting_down = not self.active
            if suspended:  # already rescheduled by shutdownAndSuspend
                log("S", name, wid)
                continue
            if shutting_down:  # afterExecute after shutdown: reschedule
                wm.cancel_running(q, wid, payload)
                log("R", name, wid)
                continue
            log("c", name, wid)
            wm.completed(q, wid)
            log("C", name, wid)

    def shutdown_and_suspend(self) -> None:
        """Deactivate the queue, reschedule every running work, then interrupt and join the threads."""
        with self.lock:
            self.active = False
            snapshot = []
            for wid, entry in self.running.items():
                entry[1] = True
                snapshot.append((wid, entry[0]))
        for wid, payload in snapshot:
            self.main_wm.cancel_running(self.queue, wid, payload)
            self.log("R", "main", wid)
        self.halt.set()
        for t in self.threads:
            t.join(timeout=30.0)
        self.log("stopped", "main")


def main() -> int:
    cfg = json.loads(sys.stdin.read())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the controller, which stops us
    parent = os.getppid()
    node = Node(cfg)
    node.start()
    while not stop.wait(0.2):
        if os.getppid() != parent:  # the controller died without stopping us: leave no process behind
            os._exit(3)
    node.shutdown_and_suspend()
    return 0


if __name__ == "__main__":
    sys.exit(main())
