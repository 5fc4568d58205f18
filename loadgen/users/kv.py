"""KeyValue-store users (spec §2): the KV operation mix, the batch-upload pattern, and ``kv-set``.

Round trips come from :class:`rcapcore.nuxeo.kv.KVCommands` and the patterns of
:mod:`rcapcore.nuxeo.kv` / :mod:`rcapcore.nuxeo.transientstore`; each round trip is reported under its
command name (``GET``, ``EVALSHA compare-and-set`` …) and a whole batch upload also as the request
``pattern batch-upload`` (µs from its first to its last round trip).
"""

from __future__ import annotations

import bisect
import itertools
import time
from typing import Any, Callable

from redis.crc import key_slot

from rcapcore.nuxeo.keys import kv_namespace
from rcapcore.nuxeo.kv import KVCommands, compare_and_set, drive, lock_commands
from rcapcore.nuxeo.payloads import doc_id
from rcapcore.nuxeo.transientstore import batch_upload, transient_store
from rcapcore.nuxeo.versions import profile
from loadgen.users.base import RcapUser

BATCH_UPLOAD_REQUEST = "pattern batch-upload"
_perf_ns = time.perf_counter_ns


def key_picker(rng: Any, keyspace: int, distribution: str, zipf_s: float) -> Callable[[], int]:
    """Draw a key index in ``[0, keyspace)``: uniform, or Zipf with exponent ``zipf_s`` (index 0 hottest)."""
    if distribution == "uniform":
        return lambda: rng.randrange(keyspace)
    cum = list(itertools.accumulate(1.0 / (i + 1) ** zipf_s for i in range(keyspace)))
    total = cum[-1]
    return lambda: bisect.bisect_left(cum, rng.random() * total)


class KvUser(RcapUser):
    """Runs the operation ``mix`` (weights per operation name, see ``loadgen.workloads.kv.KV_OPS``) on one KV store."""

    abstract = True
    mix: dict[str, float] = {}

    def on_start(self) -> None:
        ctx = self.ctx
        p = ctx.scenario.params
        self.rng = rng = ctx.rng()
        self.kv = KVCommands(getattr(p, "store", "default"), ctx.scenario.prefix)
        self.ts = transient_store(prefix=ctx.scenario.prefix)
        self.pick = key_picker(rng, getattr(p, "keyspace", 10_000), getattr(p, "key_distribution", "uniform"),
                               getattr(p, "zipf_s", 1.1))
        value_dist = getattr(p, "value_bytes", None)
        ttl_dist = getattr(p, "ttl_s", None)
        self.draw_size = value_dist.sampler(rng) if value_dist is not None else (lambda: 100.0)
        self.draw_ttl = ttl_dist.sampler(rng) if ttl_dist is not None else (lambda: 60.0)
        self.mget_keys = getattr(p, "mget_keys", 10)
        self.upload_bytes = getattr(p, "upload_file_bytes", 1_000_000)
        self.upload_ttl_s = profile(ctx.scenario.nuxeo_version).transient_ttl_s
        self.filler = rng.randbytes(1 << 16)
        self.ops = [(name, getattr(self, "op_" + name)) for name in self.mix if self.mix[name] > 0]
        self.weights = [self.mix[name] for name, _ in self.ops]
        self.cas_values: dict[str, bytes] = {}
        self.uploads = 0
        self.locks = lock_commands(prefix=ctx.scenario.prefix)
        self.cluster = ctx.target.sharded

    # one KV API call each --------------------------------------------------------------------
    def key(self) -> str:
        return f"k{self.pick()}"

    def value(self) -> bytes:
        n = max(1, int(self.draw_size()))
        if n <= len(self.filler):
            start = self.rng.randrange(0, len(self.filler) - n + 1)
            return self.filler[start:start + n]
        return (self.filler * (n // len(self.filler) + 1))[:n]

    def ttl(self) -> int:
        return max(1, int(self.draw_ttl()))

    def op_set(self) -> None:
        self.redis.call(self.kv.set(self.key(), self.value()))

    def op_setex(self) -> None:
        self.redis.call(self.kv.setex(self.key(), self.ttl(), self.value()))

    def op_get(self) -> None:
        self.redis.call(self.kv.get(self.key()))

    def op_mget(self) -> None:
        keys = [self.key() for _ in range(self.mget_keys)]
        if not self.cluster:
            self.redis.call(self.kv.mget(keys))
            return
        # Redis Cluster refuses a multi-slot MGET (CROSSSLOT): one MGET per slot, as cluster clients do
        by_slot: dict[int, list[str]] = {}
        for k in keys:
            by_slot.setdefault(key_slot(self.kv.key(k)), []).append(k)
        for group in by_slot.values():
            self.redis.call(self.kv.mget(group))

    def op_incrby(self) -> None:
        self.redis.call(self.kv.incrby(f"n{self.pick()}", self.rng.randint(1, 100)))

    def op_expire(self) -> None:
        self.redis.call(self.kv.expire(self.key(), self.ttl()))

    def op_persist(self) -> None:
        self.redis.call(self.kv.persist(self.key()))

    def op_del(self) -> None:
        self.redis.call(self.kv.delete(self.key()))

    def op_cas_null_set(self) -> None:
        key = f"c{self.pick()}"
        value = b"%d" % self.rng.getrandbits(48)
        if drive(compare_and_set(self.kv, key, None, value, self.ttl()), self.redis.call):
            self.cas_values[key] = value

    def op_cas_set(self) -> None:
        key = f"c{self.pick()}"
        expected = self.cas_values.get(key, b"stale")  # unknown keys: the CAS fails, as a lost race does
        value = b"%d" % self.rng.getrandbits(48)
        if drive(compare_and_set(self.kv, key, expected, value, self.ttl()), self.redis.call):
            self.cas_values[key] = value

    def op_cas_del(self) -> None:
        key = f"c{self.pick()}"
        expected = self.cas_values.pop(key, b"stale")
        drive(compare_and_set(self.kv, key, expected, None), self.redis.call)

    def op_lock_get(self) -> None:
        # the lock manager's per-write-permission check (spec §4.2), usually nil
        self.redis.call(self.locks.get(doc_id(self.rng)))

    def op_batch_upload(self) -> None:
        self.uploads += 1
        batch = f"batchId-{self.ctx.node_id('u')}-{self.uploads}"
        t0 = _perf_ns()
        drive(batch_upload(self.ts, batch, self.upload_bytes, self.upload_ttl_s), self.redis.call)
        us = (_perf_ns() - t0) // 1000
        self.ctx.recorder.record(BATCH_UPLOAD_REQUEST, us,
                                 us + self.redis.lag_ns // 1000 if self.redis.open_loop else None)
        self.ctx.counters.totals["batch_uploads"] += 1

    def one(self) -> None:
        ops = self.ops
        fn = ops[0][1] if len(ops) == 1 else self.rng.choices(ops, self.weights)[0][1]
        fn()

    def run_kv(self) -> None:
        self.loop(self.one)

    tasks = [run_kv]


class KvSetUser(RcapUser):
    """``kv-set``: ``SET <prefix>kv:<i> <value_bytes>`` in a tight loop (the load generator's own benchmark).

    The command is packed by hand from a pre-built head and tail (only the key changes), because at
    tens of thousands of ops/s per process every microsecond of Python is visible.
    """

    abstract = True

    def run_set(self) -> None:
        ctx = self.ctx
        p = ctx.scenario.params
        rng = ctx.rng()
        ns = kv_namespace("default", ctx.scenario.prefix).encode()
        value = rng.randbytes(p.value_bytes)
        tail = b"\r\n$%d\r\n%b\r\n" % (len(value), value)
        keys = p.keyspace
        execute = self.redis.execute
        counter = itertools.count(rng.randrange(keys))

        def one() -> None:
            key = ns + b"%d" % (next(counter) % keys)
            execute("SET", b"*3\r\n$3\r\nSET\r\n$%d\r\n%b%b" % (len(key), key, tail), key)
        self.loop(one)

    tasks = [run_set]
