"""The KeyValue store on Redis (spec §2): command builders, CAS patterns, a synchronous client.

:class:`KVCommands` builds single round trips for one store (keys are relative to the store's
namespace ``<prefix>kv:`` or ``<prefix><store>:``). Multi-step operations are *patterns*: generators
that yield :class:`~rcapcore.nuxeo.ops.Op`\\ s and receive each parsed reply through ``send()``, so the
same sequence drives the synchronous :class:`KVClient` and a Locust user:

    steps = compare_and_set(kv, "k", None, "v", ttl_s=60)
    reply = None
    while True:
        try:
            op = steps.send(reply)
        except StopIteration as done:
            result = done.value; break
        reply = op.parse(send(op.args))

:func:`drive` does exactly that. :func:`nominal_steps` lists a pattern's round trips without Redis,
assuming every CAS succeeds and every GET of shared state returns nil (a fresh keyspace).
"""

from __future__ import annotations

from typing import Any, Callable, Generator

from rcapcore.nuxeo.keys import DEFAULT_PREFIX, kv_namespace
from rcapcore.nuxeo.ops import Op, raw, to_bytes
from rcapcore.nuxeo.scripts import KV_SCRIPT_NAMES, SCRIPTS, execute_with_reload, load_scripts

Pattern = Generator[Op, Any, Any]


def parse_cas(reply: Any) -> bool:
    """A CAS script's reply: 1 → ``True`` (done), nil → ``False``."""
    return reply == 1


def parse_int(reply: Any) -> int:
    return int(reply)


class KVCommands:
    """Pure builders for one KV store; values may be ``bytes``, ``str`` (UTF-8) or ``int`` (decimal)."""

    __slots__ = ("store", "namespace", "_ns", "_cas", "_cad", "_cns")

    def __init__(self, store: str = "default", prefix: str = DEFAULT_PREFIX):
        self.store = store
        self.namespace = kv_namespace(store, prefix)
        self._ns = self.namespace.encode()
        self._cas = ("EVALSHA", SCRIPTS["compare-and-set"].sha_bytes, b"1")
        self._cad = ("EVALSHA", SCRIPTS["compare-and-del"].sha_bytes, b"1")
        self._cns = ("EVALSHA", SCRIPTS["compare-null-and-set"].sha_bytes, b"1")

    def key(self, key: str | bytes) -> bytes:
        """The full Redis key of ``key`` in this store."""
        return self._ns + (key if type(key) is bytes else key.encode())

    def set(self, key, value) -> Op:
        """``put(key, value)``: ``SET``."""
        return Op("SET", ("SET", self.key(key), to_bytes(value)), raw)

    def setex(self, key, ttl_s: int, value) -> Op:
        """``put(key, value, ttl)`` with ``ttl_s`` > 0 seconds: ``SETEX``."""
        return Op("SETEX", ("SETEX", self.key(key), ttl_s, to_bytes(value)), raw)

    def get(self, key) -> Op:
        """``get(key)``: ``GET`` → bytes or ``None``."""
        return Op("GET", ("GET", self.key(key)), raw)

    def mget(self, keys) -> Op:
        """``get(Collection)``: one ``MGET`` → list of bytes/``None``."""
        return Op("MGET", ("MGET",) + tuple(self.key(k) for k in keys), raw)

    def incrby(self, key, delta: int) -> Op:
        """``addAndGet(key, delta)``: ``INCRBY`` → the new value."""
        return Op("INCRBY", ("INCRBY", self.key(key), delta), parse_int)

    def expire(self, key, ttl_s: int) -> Op:
        """``setTTL(key, ttl_s)``: ``EXPIRE``."""
        return Op("EXPIRE", ("EXPIRE", self.key(key), ttl_s), parse_int)

    def persist(self, key) -> Op:
        """``setTTL(key, 0)``: ``PERSIST``."""
        return Op("PERSIST", ("PERSIST", self.key(key)), parse_int)

    def delete(self, key) -> Op:
        """``put(key, null)``: ``DEL``."""
        return Op("DEL", ("DEL", self.key(key)), parse_int)

    def compare_and_set_script(self, key, expected, value) -> Op:
        """``compare-and-set``: set ``value`` if the current value equals ``expected``."""
        return Op("EVALSHA compare-and-set", self._cas + (self.key(key), to_bytes(expected), to_bytes(value)),
                  parse_cas)

    def compare_and_del_script(self, key, expected) -> Op:
        """``compare-and-del``: delete if the current value equals ``expected``."""
        return Op("EVALSHA compare-and-del", self._cad + (self.key(key), to_bytes(expected)), parse_cas)

    def compare_null_and_set_script(self, key, value) -> Op:
        """``compare-null-and-set``: set ``value`` if the key is absent."""
        return Op("EVALSHA compare-null-and-set", self._cns + (self.key(key), to_bytes(value)), parse_cas)


def lock_commands(repository: str = "default", prefix: str = DEFAULT_PREFIX) -> KVCommands:
    """Builders on the Redis lock manager's keys ``<prefix>lock:<repo>:<docId>`` (``get(doc_id)`` is the
    per-write-permission check of spec §4.2)."""
    return KVCommands(f"lock:{repository}", prefix)


def put(kv: KVCommands, key, value, ttl_s: int = 0) -> Pattern:
    """``put(key, value, ttl)``: ``SET``, ``SETEX`` (ttl > 0) or ``DEL`` (value ``None``); one round trip."""
    if value is None:
        yield kv.delete(key)
    elif ttl_s > 0:
        yield kv.setex(key, ttl_s, value)
    else:
        yield kv.set(key, value)


def compare_and_set(kv: KVCommands, key, expected, value, ttl_s: int = 0, nominal_ok: bool = True) -> Pattern:
    """Nuxeo's ``compareAndSet(key, expected, value, ttl)``; returns ``True`` when it applied.

    ``nominal_ok`` is the outcome assumed by :func:`nominal_steps` (a fresh keyspace).

    (None, None) → ``GET``; (None, v) → ``compare-null-and-set``; (e, None) → ``compare-and-del``;
    (e, v) → ``compare-and-set``. A successful set with ``ttl_s`` ≠ 0 is followed by its own
    ``EXPIRE`` round trip (not atomic, as in Nuxeo).
    """
    if expected is None and value is None:
        return nominal_value((yield kv.get(key))) is None
    if value is None:
        return outcome((yield kv.compare_and_del_script(key, expected)), nominal_ok)
    if expected is None:
        ok = outcome((yield kv.compare_null_and_set_script(key, value)), nominal_ok)
    else:
        ok = outcome((yield kv.compare_and_set_script(key, expected, value)), nominal_ok)
    if ok and ttl_s:
        yield kv.expire(key, ttl_s)
    return ok


class _Nominal:
    """Reply stand-in for :func:`nominal_steps`; patterns read it with :func:`outcome`/:func:`nominal_value`."""

    def __repr__(self) -> str:
        return "NOMINAL"


NOMINAL = _Nominal()


def outcome(reply: Any, nominal: bool) -> bool:
    """A parsed CAS reply as a bool; under :func:`nominal_steps`, the pattern's expected outcome."""
    return nominal if reply is NOMINAL else bool(reply)


def nominal_value(reply: Any, nominal: Any = None) -> Any:
    """A parsed GET reply; under :func:`nominal_steps`, ``nominal`` (nil unless told)."""
    return nominal if reply is NOMINAL else reply


def drive(steps: Pattern, execute: Callable[[Op], Any]) -> Any:
    """Run a pattern: ``execute(op)`` sends one op and returns its parsed reply; returns the pattern's result."""
    reply = None
    while True:
        try:
            op = steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = execute(op)


def nominal_steps(steps: Pattern) -> list[Op]:
    """The round trips of a pattern on a fresh keyspace (CAS succeed, shared reads are nil); no I/O."""
    ops: list[Op] = []

    def record(op: Op) -> Any:
        ops.append(op)
        return NOMINAL

    drive(steps, record)
    return ops


class KVClient:
    """Synchronous KV store over a redis-py client (``decode_responses=False``), using the builders."""

    def __init__(self, redis: Any, store: str = "default", prefix: str = DEFAULT_PREFIX):
        self.redis = redis
        self.commands = KVCommands(store, prefix)

    def load_scripts(self) -> dict[str, str]:
        """``SCRIPT LOAD`` the three CAS scripts (Nuxeo does it per store instance)."""
        return load_scripts(self.redis.execute_command, KV_SCRIPT_NAMES)

    def execute(self, op: Op) -> Any:
        return op.parse(execute_with_reload(self.redis.execute_command, op.args))

    def run(self, steps: Pattern) -> Any:
        """Run a pattern (see :func:`drive`) and return its result."""
        return drive(steps, self.execute)

    def put(self, key, value, ttl_s: int = 0) -> None:
        self.run(put(self.commands, key, value, ttl_s))

    def get(self, key) -> bytes | None:
        return self.execute(self.commands.get(key))

    def mget(self, keys) -> list:
        return self.execute(self.commands.mget(keys))

    def add_and_get(self, key, delta: int) -> int:
        return self.execute(self.commands.incrby(key, delta))

    def set_ttl(self, key, ttl_s: int) -> int:
        """``EXPIRE``, or ``PERSIST`` when ``ttl_s`` is 0."""
        return self.execute(self.commands.expire(key, ttl_s) if ttl_s else self.commands.persist(key))

    def compare_and_set(self, key, expected, value, ttl_s: int = 0) -> bool:
        return bool(self.run(compare_and_set(self.commands, key, expected, value, ttl_s)))
