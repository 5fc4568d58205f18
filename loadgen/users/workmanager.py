"""WorkManager users (spec §1): producers schedule works, consumers emulate Nuxeo worker threads.

Every round trip comes from :class:`loadgen.nuxeo.workmanager.WorkQueueCommands`, so each of the
EVALSHAs is its own request name (``EVALSHA scheduling-work``, ``EVALSHA pop-work`` …).
"""

from __future__ import annotations

import struct
import time
from collections import deque
from typing import Any

import gevent
from gevent.event import Event

from rcapcore.nuxeo.payloads import PayloadFactory, nanotime_work_id, work_type
from rcapcore.nuxeo.queues import idle_poll_interval_s
from loadgen.nuxeo.workmanager import WorkQueueCommands
from loadgen.users.base import RcapUser

RECENT_IDS = 64  # ids a producer may re-schedule as duplicates


def payload_factory(ctx: Any) -> PayloadFactory:
    """One payload factory per process (its 1 MB filler pool is built once)."""
    factory = getattr(ctx, "_payloads", None)
    if factory is None:
        factory = ctx._payloads = PayloadFactory(ctx.scenario.seed)
    return factory


class WorkProducer(RcapUser):
    """Schedules works into ``queues`` (``(queue_id, work_type, share)``), paced or closed loop.

    ``max_works`` > 0 stops this producer after that many schedules; ``duplicate_ratio`` re-sends a
    recent id, which the ``sched`` set de-duplicates while the original is still queued.
    """

    abstract = True
    queues: tuple[tuple[str, str, float], ...] = ()
    max_works = 0
    duplicate_ratio = 0.0

    def on_start(self) -> None:
        ctx = self.ctx
        self.rng = ctx.rng()
        self.factory = payload_factory(ctx)
        self.targets = [(WorkQueueCommands(q, ctx.scenario.prefix, ctx.hashtag), work_type(t, ctx.scenario.nuxeo_version)) for q, t, _ in
                        self.queues]
        self.weights = [share for _, _, share in self.queues]
        self.recent: deque[str] = deque(maxlen=RECENT_IDS)
        self.sent = 0

    def schedule_one(self) -> bool:
        if self.max_works and self.sent >= self.max_works:
            return False
        cmds, wtype = self.rng.choices(self.targets, self.weights)[0] if len(self.targets) > 1 else self.targets[0]
        counters = self.ctx.counters
        if self.recent and self.rng.random() < self.duplicate_ratio:
            wid = self.rng.choice(self.recent)
            counters.totals["works_duplicates_sent"] += 1
        else:
            wid = nanotime_work_id(self.rng)
            self.recent.append(wid)
        payload = self.factory.payload(wid, self.factory.size_of(wtype), wtype.java_class)
        self.sent += 1
        self.redis.call(cmds.schedule(wid, payload))
        counters.totals["works_scheduled"] += 1
        counters.per_queue[cmds.queue_id]["scheduled"] += 1
        self.ctx.wake_one(cmds.queue_id)
        return True

    def run_producer(self) -> None:
        self.loop(self.schedule_one)

    tasks = [run_producer]


class WorkConsumer(RcapUser):
    """One worker thread of ``queue_id``: pop-work → running-work → processing → completed-work.

    When the queue is empty it waits 1000 ± 200 ms (or until a local producer signals), as Nuxeo does.
    ``processing_ms`` draws the processing time in ms; ``processing_by_class`` maps a work's Java class to
    its own ``(Dist, request name)``: its processing time, and its time in the queue recorded under that
    name (from the nanotime in its id: producers on this host).
    """

    abstract = True
    queue_id = "default"
    processing_ms: Any = None
    processing_by_class: dict[str, Any] = {}

    def on_start(self) -> None:
        ctx = self.ctx
        self.rng = ctx.rng()
        self.cmds = WorkQueueCommands(self.queue_id, ctx.scenario.prefix, ctx.hashtag)
        self.draw_ms = self.processing_ms.sampler(self.rng) if self.processing_ms is not None else (lambda: 0.0)
        self.by_class = {cls.encode(): (dist.sampler(self.rng), name)
                         for cls, (dist, name) in self.processing_by_class.items()}

    def consume_one(self) -> None:
        ctx = self.ctx
        if ctx.stopping.is_set():
            return
        cmds = self.cmds
        work = self.redis.call(cmds.pop())
        if work is None:
            self.idle()
            return
        ctx.busy += 1
        try:
            wid = work.work_id
            draw = self.draw_ms
            if self.by_class:
                draw = self._classify(wid, work.payload) or draw
            self.redis.call(cmds.running(wid, work.payload))
            ms = draw()
            if ms > 0:
                gevent.sleep(ms / 1000.0)
            self.redis.call(cmds.completed(wid))
            ctx.counters.totals["works_completed"] += 1
            ctx.counters.per_queue[self.queue_id]["completed"] += 1
        finally:
            ctx.busy -= 1

    def _classify(self, wid: str | None, payload: bytes) -> Any:
        """The processing-time sampler of the work's class, recording its queue wait; None: the default."""
        (cls_len,) = struct.unpack_from(">H", payload, 6)
        entry = self.by_class.get(bytes(payload[8:8 + cls_len]))
        if entry is None:
            return None
        draw, name = entry
        if wid and "." in wid:
            wait_us = (time.monotonic_ns() - int(wid.split(".", 1)[0])) // 1000
            self.ctx.recorder.record(name, max(1, wait_us))
        return draw

    def idle(self) -> None:
        ev = Event()
        self.ctx.waiters[self.queue_id].append(ev)
        ev.wait(idle_poll_interval_s(self.rng))

    def run_consumer(self) -> None:
        # the closed loop of a worker thread; rates come from producers (and processing time)
        self.rate_per_user = None
        self.loop(self.consume_one)

    tasks = [run_consumer]


class WorkLifecycleUser(RcapUser):
    """``work-lifecycle``: whole lifecycles on one connection, one EVALSHA at a time (the saturation probe).

    Each iteration schedules a new work, pops the queue's head, marks it running (re-sending its payload)
    and completes it, without processing time: four unpipelined round trips per work, as a Nuxeo node's
    producer and worker thread send them, with nothing between them.
    """

    abstract = True
    queue_id = "default"
    work_type_name = "fulltextExtractor"

    def on_start(self) -> None:
        ctx = self.ctx
        self.rng = ctx.rng()
        self.factory = payload_factory(ctx)
        self.wtype = work_type(self.work_type_name)
        self.cmds = WorkQueueCommands(self.queue_id, ctx.scenario.prefix, ctx.hashtag)

    def one_lifecycle(self) -> None:
        ctx = self.ctx
        if ctx.stopping.is_set():
            return
        cmds, call, totals = self.cmds, self.redis.call, ctx.counters.totals
        ctx.busy += 1  # the run's wind-down waits for lifecycles in flight
        try:
            wid = nanotime_work_id(self.rng)
            call(cmds.schedule(wid, self.factory.payload(wid, self.factory.size_of(self.wtype),
                                                         self.wtype.java_class)))
            totals["works_scheduled"] += 1
            work = call(cmds.pop())
            if work is None:  # another user took it: the queue holds one of ours in exchange
                return
            call(cmds.running(work.work_id, work.payload))
            call(cmds.completed(work.work_id))
            totals["works_completed"] += 1
        finally:
            ctx.busy -= 1

    def run_lifecycles(self) -> None:
        self.loop(self.one_lifecycle)

    tasks = [run_lifecycles]
