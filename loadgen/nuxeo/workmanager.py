"""The WorkManager on Redis (spec §1): command builders per queue and a synchronous client.

:class:`WorkQueueCommands` is the single source of the wire traffic: each builder is pure (no I/O)
and returns an :class:`~rcapcore.nuxeo.ops.Op` whose ``args`` are ``EVALSHA <sha> 8 <KEYS…> <ARGV…>``
exactly as Nuxeo sends them. Everything that does not depend on the work is precomputed per queue,
so a builder call costs about a microsecond (Locust users call them on every request).
:class:`WorkManagerClient` runs the same builders over a redis-py client (tests, failover audit,
notebooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

from rcapcore.nuxeo.keys import DEFAULT_PREFIX, WorkQueueKeys
from rcapcore.nuxeo.ops import Op
from rcapcore.nuxeo.payloads import work_id_from_payload
from rcapcore.nuxeo.scripts import SCRIPTS, WORK_SCRIPT_NAMES, execute_with_reload, load_scripts

STATE_SCHEDULED = b"Q"
STATE_RUNNING = b"R"
STATE_UNKNOWN = b""  # how Nuxeo serializes state UNKNOWN at completion


class Counters(NamedTuple):
    """The four counters of a queue's count hash (works; ``completed`` grows forever)."""

    scheduled: int
    running: int
    completed: int
    canceled: int


class PoppedWork(NamedTuple):
    """What ``pop-work`` hands a worker: the id (read from the payload), the payload, the counters."""

    work_id: str | None
    payload: bytes
    counters: Counters


def parse_counters(reply: Any) -> Counters:
    """``[scheduled, running, completed, canceled]`` → :class:`Counters`."""
    return Counters(int(reply[0]), int(reply[1]), int(reply[2]), int(reply[3]))


def parse_pop(reply: Any) -> PoppedWork | None:
    """``nil`` (empty queue, or a duplicate id re-queued) → ``None``; else a :class:`PoppedWork`."""
    if reply is None:
        return None
    counters, payload = reply
    if isinstance(payload, str):
        payload = payload.encode("latin-1")
    return PoppedWork(work_id_from_payload(payload), payload, parse_counters(counters))


def parse_state(reply: Any) -> str | None:
    """A work state byte (``Q`` scheduled, ``R`` running) as ``str``, ``None`` if unknown."""
    return reply.decode() if isinstance(reply, bytes) else reply


def _b(value: str | bytes) -> bytes:
    return value if type(value) is bytes else value.encode()


class WorkQueueCommands:
    """Pure builders of the WorkManager round trips for one queue; all per-queue parts are cached."""

    __slots__ = ("keys", "_heads", "_pop", "_init", "_metrics", "_names", "_state_head")

    def __init__(self, queue_id: str, prefix: str = DEFAULT_PREFIX, hashtag: bool = False):
        self.keys = WorkQueueKeys.build(queue_id, prefix, hashtag)
        keys_b = tuple(k.encode() for k in self.keys.script_keys())
        self._heads = {
            name: ("EVALSHA", SCRIPTS[name].sha_bytes, b"8") + keys_b for name in WORK_SCRIPT_NAMES
        }
        self._names = {name: f"EVALSHA {name}" for name in WORK_SCRIPT_NAMES}
        self._pop = Op(self._names["pop-work"], self._heads["pop-work"] + (STATE_RUNNING,), parse_pop)
        self._init = Op(self._names["init-work-queue"], self._heads["init-work-queue"], parse_counters)
        self._metrics = Op(self._names["metrics-work-queue"], self._heads["metrics-work-queue"], parse_counters)
        self._state_head = ("HGET", self.keys.state.encode())

    @property
    def queue_id(self) -> str:
        return self.keys.queue_id

    def schedule(self, work_id: str | bytes, payload: bytes) -> Op:
        """``scheduling-work``: enqueue unless the id is already scheduled (de-duplication)."""
        return Op("EVALSHA scheduling-work",
                  self._heads["scheduling-work"] + (_b(work_id), STATE_SCHEDULED, payload), parse_counters)

    def pop(self) -> Op:
        """``pop-work``: dequeue the oldest work, mark it running; nil if empty or a duplicate is running."""
        return self._pop

    def running(self, work_id: str | bytes, payload: bytes) -> Op:
        """``running-work``: re-write the payload (now RUNNING, with its start time)."""
        return Op("EVALSHA running-work",
                  self._heads["running-work"] + (_b(work_id), STATE_RUNNING, payload), parse_counters)

    def completed(self, work_id: str | bytes) -> Op:
        """``completed-work``: forget the work and count it done."""
        return Op("EVALSHA completed-work",
                  self._heads["completed-work"] + (_b(work_id), STATE_UNKNOWN), parse_counters)

    def cancel_scheduled(self, work_id: str | bytes) -> Op:
        """``cancelled-scheduled-work``: remove a scheduled work (``LREM``, O(queue length))."""
        return Op("EVALSHA cancelled-scheduled-work",
                  self._heads["cancelled-scheduled-work"] + (_b(work_id),), parse_counters)

    def cancel_running(self, work_id: str | bytes, payload: bytes) -> Op:
        """``cancelled-running-work``: put a running work back in the queue (reschedule at node shutdown)."""
        return Op("EVALSHA cancelled-running-work",
                  self._heads["cancelled-running-work"] + (_b(work_id), STATE_SCHEDULED, payload), parse_counters)

    def init_queue(self) -> Op:
        """``init-work-queue``: recompute the scheduled/running counters from the sets (node start)."""
        return self._init

    def metrics(self) -> Op:
        """``metrics-work-queue``: read the four counters."""
        return self._metrics

    def state(self, work_id: str | bytes) -> Op:
        """``getWorkState(id)``: ``HGET state id`` → ``b"Q"``, ``b"R"`` or ``None`` (conversion-status polling)."""
        return Op("HGET work-state", self._state_head + (_b(work_id),), parse_state)


@dataclass(frozen=True)
class WorkAudit:
    """Where one work id is: in the queue list, the sched/run sets, the data/state hashes."""

    work_id: str
    queued: bool
    scheduled: bool
    running: bool
    has_data: bool
    state: str | None

    @property
    def status(self) -> str:
        """``running``, ``scheduled`` (queued or in the sched set), ``orphaned`` (data/state only) or ``absent``."""
        if self.running:
            return "running"
        if self.queued or self.scheduled:
            return "scheduled"
        if self.has_data or self.state is not None:
            return "orphaned"
        return "absent"


class WorkManagerClient:
    """Synchronous WorkManager over a redis-py client (``decode_responses=False``), using the builders.

    ``hashtag=True`` puts every key under ``<prefix>{work}:`` (one cluster slot; differs from Nuxeo).
    """

    def __init__(self, redis: Any, prefix: str = DEFAULT_PREFIX, hashtag: bool = False):
        self.redis = redis
        self.prefix = prefix
        self.hashtag = hashtag
        self._queues: dict[str, WorkQueueCommands] = {}

    def commands(self, queue_id: str) -> WorkQueueCommands:
        """The (cached) builders of ``queue_id``."""
        q = self._queues.get(queue_id)
        if q is None:
            q = self._queues[queue_id] = WorkQueueCommands(queue_id, self.prefix, self.hashtag)
        return q

    def execute(self, op: Op) -> Any:
        """Send ``op`` (reloading its script once on NOSCRIPT) and parse the reply."""
        return op.parse(execute_with_reload(self.redis.execute_command, op.args))

    def load_scripts(self) -> dict[str, str]:
        """``SCRIPT LOAD`` the eight WorkManager scripts (Nuxeo does this at start)."""
        return load_scripts(self.redis.execute_command, WORK_SCRIPT_NAMES)

    def schedule(self, queue_id: str, work_id: str, payload: bytes) -> Counters:
        return self.execute(self.commands(queue_id).schedule(work_id, payload))

    def pop(self, queue_id: str) -> PoppedWork | None:
        return self.execute(self.commands(queue_id).pop())

    def running(self, queue_id: str, work_id: str, payload: bytes) -> Counters:
        return self.execute(self.commands(queue_id).running(work_id, payload))

    def completed(self, queue_id: str, work_id: str) -> Counters:
        return self.execute(self.commands(queue_id).completed(work_id))

    def cancel_scheduled(self, queue_id: str, work_id: str) -> Counters:
        return self.execute(self.commands(queue_id).cancel_scheduled(work_id))

    def cancel_running(self, queue_id: str, work_id: str, payload: bytes) -> Counters:
        return self.execute(self.commands(queue_id).cancel_running(work_id, payload))

    def init_queue(self, queue_id: str) -> Counters:
        return self.execute(self.commands(queue_id).init_queue())

    def metrics(self, queue_id: str) -> Counters:
        return self.execute(self.commands(queue_id).metrics())

    def run_one(self, queue_id: str) -> str | None:
        """One worker iteration without processing time: pop, running, completed; the id or ``None``."""
        popped = self.pop(queue_id)
        if popped is None:
            return None
        self.running(queue_id, popped.work_id, popped.payload)
        self.completed(queue_id, popped.work_id)
        return popped.work_id

    def state(self, queue_id: str, work_id: str) -> str | None:
        return self.execute(self.commands(queue_id).state(work_id))

    def counters(self, queue_id: str) -> Counters:
        """Read the count hash directly (``HMGET``), as a monitoring tool would; absent fields read 0."""
        keys = self.commands(queue_id).keys
        values = self.redis.execute_command("HMGET", keys.count, *keys.counter_fields())
        return Counters(*(int(v) if v is not None else 0 for v in values))

    def audit(self, queue_id: str, work_ids: Iterable[str], chunk: int = 10_000) -> dict[str, WorkAudit]:
        """Where each id is now (read-only: ``LRANGE`` of the queue in chunks, ``SMISMEMBER``, ``HEXISTS``/``HMGET``)."""
        ids = list(dict.fromkeys(work_ids))
        keys = self.commands(queue_id).keys
        queued: set[bytes] = set()
        start = 0
        while True:
            part = self.redis.execute_command("LRANGE", keys.queue, start, start + chunk - 1)
            queued.update(part)
            if len(part) < chunk:
                break
            start += chunk
        result: dict[str, WorkAudit] = {}
        for i in range(0, len(ids), chunk):
            batch = ids[i:i + chunk]
            pipe = self.redis.pipeline(transaction=False)
            pipe.execute_command("SMISMEMBER", keys.sched, *batch)
            pipe.execute_command("SMISMEMBER", keys.run, *batch)
            pipe.execute_command("HMGET", keys.state, *batch)
            for wid in batch:
                pipe.execute_command("HEXISTS", keys.data, wid)
            sched, run, states, *exists = pipe.execute()
            for j, wid in enumerate(batch):
                state = states[j]
                result[wid] = WorkAudit(
                    work_id=wid,
                    queued=wid.encode() in queued,
                    scheduled=bool(sched[j]),
                    running=bool(run[j]),
                    has_data=bool(exists[j]),
                    state=state.decode() if isinstance(state, bytes) else state,
                )
        return result
