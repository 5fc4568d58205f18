"""The load that runs through a fault: WorkManager producers and consumers, KV writers, a PubSub
publisher and subscriber, each a thread with its own client, all recording what was acknowledged.

It is a dedicated driver rather than Locust so that every acknowledged write is known by id and can be
audited afterwards (Jepsen's set-test pattern). The Redis traffic comes from the Nuxeo model
(:mod:`loadgen.nuxeo`): the same Lua scripts, payload sizes and key names.

How clients follow a failover (``follow``):

- ``switch-master`` (default, like Nuxeo's Jedis ``JedisSentinelPool``): the sentinels' +switch-master
  makes every command client drop its connection before its next operation, so it asks the
  sentinels for the new master. The PubSub subscriber keeps its long-lived connection (as Nuxeo's
  subscriber thread does) and only moves on an error.
- ``errors`` (plain redis-py): a client moves only when its connection fails or the old master
  answers READONLY.

Failed operations are retried every ``retry_ms`` with the same work id (``scheduling-work`` is
idempotent on the id), so the unavailability window is measured to within ``retry_ms``; Nuxeo's own
2 s, 4 s, 8 s back-off is derived afterwards (:func:`availability.nuxeo_retry_delay_ms`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rcapcore.errors import BadInput
from rcap.failover.availability import OpLog
from rcapcore.nuxeo.keys import kv_namespace, subscription_pattern
from rcapcore.nuxeo.payloads import PayloadFactory, work_type
from loadgen.nuxeo.pubsub import PubSubCommands, decode_message
from rcapcore.nuxeo.scripts import WORK_SCRIPT_NAMES, is_noscript, load_scripts
from loadgen.nuxeo.workmanager import WorkManagerClient

WORKLOADS = ("workmanager", "kv", "pubsub")
FOLLOW_MODES = ("switch-master", "errors")


@dataclass(frozen=True)
class LoadSpec:
    """The load of a fault experiment.

    Rates are per second for the whole load (works/s, writes/s, messages/s); ``work_ms`` is how long a
    consumer "executes" each work (ms), so ``consumers * 1000 / work_ms`` works/s is the consumption
    capacity; ``op_timeout_ms`` is the client socket timeout (Nuxeo's ``nuxeo.redis.timeout``, 2000 ms);
    ``wait_replicas`` > 0 sends ``WAIT n wait_timeout_ms`` after each schedule on the same connection and
    counts the schedule as acknowledged only if enough replicas confirmed it.
    """

    workloads: tuple[str, ...] = WORKLOADS
    producers: int = 2
    consumers: int = 2
    schedule_rate: float = 200.0
    work_ms: float = 20.0
    work_type: str = "fulltextExtractor"
    queue_id: str = "default"
    kv_rate: float = 50.0
    pubsub_rate: float = 50.0
    op_timeout_ms: int = 2000
    retry_ms: int = 50
    wait_replicas: int = 0
    wait_timeout_ms: int = 200
    follow: str = "switch-master"
    prefix: str = "rcap:"
    seed: int = 0


@dataclass
class LoadRecord:
    """What the clients saw. Ids are strings; times epoch s."""

    acked: dict[str, float] = field(default_factory=dict)          # work id → ack time
    unacked: list[str] = field(default_factory=list)               # schedule never acknowledged
    started: Counter = field(default_factory=Counter)              # work id → times popped
    completed: set[str] = field(default_factory=set)
    kv_acked: dict[str, bytes] = field(default_factory=dict)       # key → value
    published: dict[str, float] = field(default_factory=dict)      # message id → ack time
    received: set[str] = field(default_factory=set)
    switches: list[float] = field(default_factory=list)            # +switch-master arrivals
    ops: OpLog = field(default_factory=OpLog)


class _Worker(threading.Thread):
    """A load thread with its own client; ``run_loop`` does the work until ``stop`` is set."""

    producing = False  # producers stop first; consumers and the subscriber drain after them

    def __init__(self, name: str, load: FailoverLoad):
        super().__init__(name=name, daemon=True)
        self.load = load
        self.stop_event = load.stop_producing if self.producing else load.stopping
        self.client = load.make_client()
        self.generation = load.generation

    def follow(self) -> None:
        """Jedis-like: after a +switch-master, drop the connection so the next command asks the sentinels."""
        if self.load.generation != self.generation:
            self.generation = self.load.generation
            self.client.connection_pool.disconnect()

    def call(self, op: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``fn`` once, recording the outcome; returns (ok, result)."""
        self.follow()
        start = time.time()
        try:
            result = fn()
        except (redis.RedisError, OSError) as exc:
            self.load.record.ops.record(op, start, time.time(), exc)
            return False, exc
        self.load.record.ops.record(op, start, time.time())
        return True, result

    def until_ok(self, op: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Retry ``fn`` every ``retry_ms`` until it succeeds or the load stops."""
        while True:
            ok, result = self.call(op, fn)
            if ok or self.stop_event.is_set():
                return ok, result
            self.stop_event.wait(self.load.spec.retry_ms / 1000.0)

    def run(self) -> None:
        try:
            self.run_loop()
        except Exception as exc:  # noqa: BLE001  (a load thread must not die silently)
            self.load.crashes.append(f"{self.name}: {type(exc).__name__}: {exc}")
        finally:
            try:
                self.client.close()
            except (redis.RedisError, OSError):
                pass

    def run_loop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def paced(self, rate: float):
        """Yield once per intended start at ``rate``/s (open loop; no catch-up burst after a stall)."""
        interval = 1.0 / rate if rate > 0 else 0.0
        next_t = time.monotonic()
        while not self.stop_event.is_set():
            delay = next_t - time.monotonic()
            if delay > 0 and self.stop_event.wait(delay):
                return
            yield
            next_t = max(next_t + interval, time.monotonic())


class _Producer(_Worker):
    producing = True

    def __init__(self, index: int, load: FailoverLoad):
        super().__init__(f"producer-{index}", load)
        self.index = index
        spec = load.spec
        self.factory = PayloadFactory(seed=spec.seed * 1009 + index)
        self.wtype = work_type(spec.work_type)
        self.wm = WorkManagerClient(self.client, prefix=spec.prefix)
        self.commands = self.wm.commands(spec.queue_id)

    def schedule(self, work_id: str, payload: bytes) -> None:
        spec = self.load.spec
        op = self.commands.schedule(work_id, payload)
        if not spec.wait_replicas:
            self.wm.execute(op)
            return
        try:
            confirmed = self._schedule_and_wait(op.args)
        except redis.ResponseError as exc:
            if not is_noscript(exc):  # a new master has no scripts yet: load them, as Nuxeo does
                raise
            load_scripts(self.client.execute_command, WORK_SCRIPT_NAMES)
            confirmed = self._schedule_and_wait(op.args)
        if int(confirmed) < spec.wait_replicas:
            raise WaitShort(f"WAIT confirmed {confirmed} of {spec.wait_replicas} replicas")

    def _schedule_and_wait(self, args: tuple) -> int:
        """EVALSHA then WAIT on the same connection (one pipeline); returns the replicas that confirmed."""
        spec = self.load.spec
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command(*args)
        pipe.execute_command("WAIT", spec.wait_replicas, spec.wait_timeout_ms)
        _, confirmed = pipe.execute()
        return confirmed

    def run_loop(self) -> None:
        spec = self.load.spec
        n = 0
        for _ in self.paced(spec.schedule_rate / max(spec.producers, 1)):
            work_id = f"fo{spec.seed}.{self.index}.{n}"
            n += 1
            payload = self.factory.payload(work_id, self.factory.size_of(self.wtype), self.wtype.java_class)
            ok, _ = self.until_ok("schedule", lambda: self.schedule(work_id, payload))
            if ok:
                self.load.record.acked[work_id] = time.time()
            else:
                self.load.record.unacked.append(work_id)


class WaitShort(redis.RedisError):
    """A schedule that Redis applied but ``WAIT`` did not confirm on enough replicas."""


class _Consumer(_Worker):
    def __init__(self, index: int, load: FailoverLoad):
        super().__init__(f"consumer-{index}", load)
        self.wm = WorkManagerClient(self.client, prefix=load.spec.prefix)

    def run_loop(self) -> None:
        spec, rec, q = self.load.spec, self.load.record, self.load.spec.queue_id
        while not self.load.stopping.is_set():
            ok, popped = self.call("pop", lambda: self.wm.pop(q))
            if not ok:
                self.load.stopping.wait(spec.retry_ms / 1000.0)
                continue
            if popped is None:
                self.load.stopping.wait(0.01)
                continue
            wid = popped.work_id
            rec.started[wid] += 1
            self.until_ok("running", lambda: self.wm.running(q, wid, popped.payload))
            if spec.work_ms > 0:
                time.sleep(spec.work_ms / 1000.0)  # the work itself; finish it even when stopping
            ok, _ = self.until_ok("completed", lambda: self.wm.completed(q, wid))
            if ok:
                rec.completed.add(wid)


class _KVWriter(_Worker):
    producing = True

    def __init__(self, load: FailoverLoad):
        super().__init__("kv-writer", load)
        self.namespace = kv_namespace("failover", load.spec.prefix)

    def run_loop(self) -> None:
        spec = self.load.spec
        n = 0
        for _ in self.paced(spec.kv_rate):
            key, value = f"{self.namespace}{spec.seed}.{n}", str(n).encode()
            n += 1
            ok, _ = self.until_ok("kv_set", lambda: self.client.execute_command("SET", key, value))
            if ok:
                self.load.record.kv_acked[key] = value


class _Publisher(_Worker):
    """Publishes stamped cache invalidations (W1's :class:`PubSubCommands`: ``<nodeId>:<cache>/<stamp>``)."""

    producing = True

    def __init__(self, load: FailoverLoad):
        super().__init__("publisher", load)
        self.commands = PubSubCommands(f"fo{load.spec.seed}", prefix=load.spec.prefix, seed=load.spec.seed)

    def run_loop(self) -> None:
        for _ in self.paced(self.load.spec.pubsub_rate):
            op = self.commands.cacheinval()
            msg_id = f"{self.commands.node_id}:{self.commands.seq}"
            # At most once, as Nuxeo: a failed PUBLISH is not re-sent.
            ok, _ = self.call("publish", lambda: self.client.execute_command(*op.args))
            if ok:
                self.load.record.published[msg_id] = time.time()


class _Subscriber(_Worker):
    """``PSUBSCRIBE <prefix>*`` on a long-lived connection; re-subscribes after an error."""

    def __init__(self, load: FailoverLoad):
        super().__init__("subscriber", load)
        self.ready = threading.Event()

    def run_loop(self) -> None:
        pattern = subscription_pattern(self.load.spec.prefix)
        while not self.load.stopping.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            start = time.time()
            try:
                pubsub.psubscribe(pattern)
                while not self.load.stopping.is_set():
                    msg = pubsub.get_message(timeout=0.1)
                    self.ready.set()
                    if msg and msg.get("type") == "pmessage":
                        d = decode_message(msg["channel"], msg["data"], self.load.spec.prefix)
                        if d is not None:
                            self.load.record.received.add(f"{d.publisher}:{d.seq}")
            except (redis.RedisError, OSError) as exc:
                self.load.record.ops.record("subscribe", start, time.time(), exc)
                self.load.stopping.wait(self.load.spec.retry_ms / 1000.0)
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass


class FailoverLoad:
    """Starts and stops the load threads against a target; the results are in :attr:`record`.

    ``client_factory(**redis_kwargs)`` returns a new redis-py client for the target (e.g.
    ``topology.client``); each thread gets its own.
    """

    def __init__(self, spec: LoadSpec, client_factory: Callable[..., Any]):
        unknown = set(spec.workloads) - set(WORKLOADS)
        if unknown or "workmanager" not in spec.workloads:
            raise BadInput(f"--workloads must include workmanager and be among {', '.join(WORKLOADS)}")
        if spec.follow not in FOLLOW_MODES:
            raise BadInput(f"--follow must be one of {', '.join(FOLLOW_MODES)}")
        self.spec = spec
        self.client_factory = client_factory
        self.record = LoadRecord()
        self.stop_producing = threading.Event()
        self.stopping = threading.Event()
        self.generation = 0
        self._switch_lock = threading.Lock()
        self._last_master: tuple[str, int] | None = None
        self.crashes: list[str] = []
        self.threads: list[_Worker] = []

    def make_client(self):
        timeout_s = self.spec.op_timeout_ms / 1000.0
        return self.client_factory(retry=Retry(NoBackoff(), 0), socket_timeout=timeout_s,
                                   socket_connect_timeout=timeout_s)

    def on_switch_master(self, t: float, new_master: tuple[str, int] | None) -> None:
        """Called for each sentinel's +switch-master; like Jedis, only a change of address counts."""
        with self._switch_lock:
            if new_master is not None and new_master == self._last_master:
                return
            self._last_master = new_master
            self.record.switches.append(t)
            if self.spec.follow == "switch-master":
                self.generation += 1

    def start(self) -> None:
        spec = self.spec
        setup = self.make_client()
        try:
            load_scripts(setup.execute_command, WORK_SCRIPT_NAMES)
        finally:
            setup.close()
        self.threads = [_Producer(i, self) for i in range(spec.producers)]
        self.threads += [_Consumer(i, self) for i in range(spec.consumers)]
        if "kv" in spec.workloads:
            self.threads.append(_KVWriter(self))
        subscriber = None
        if "pubsub" in spec.workloads:
            subscriber = _Subscriber(self)
            self.threads += [subscriber, _Publisher(self)]
        if subscriber is not None:
            subscriber.start()
            subscriber.ready.wait(5.0)  # do not count messages published before anyone listens
        for thread in self.threads:
            if not thread.is_alive() and thread is not subscriber:
                thread.start()

    def stop(self, timeout_s: float = 10.0, drain_s: float = 0.5) -> None:
        """Stop the producers, give in-flight messages and works ``drain_s``, then stop the rest."""
        deadline = time.monotonic() + timeout_s
        self.stop_producing.set()
        for thread in self.threads:
            if thread.producing:
                thread.join(timeout=max(0.1, deadline - time.monotonic()))
        self.stopping.wait(drain_s)
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
