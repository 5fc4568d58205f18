"""Locust's pattern for non-HTTP systems, for Redis: a client that owns the I/O and times every call.

:class:`RedisClient` sends RESP commands on its own gevent sockets (one connection per user and per
node, no pipelining: Nuxeo borrows a pooled connection per call) and parses replies with hiredis.
redis-py's client layer costs more per call than a Redis round trip on loopback, so it is used only
to resolve the target (URL, sentinel, cluster nodes, TLS settings) through
:func:`loadgen.topology.targets.connect`. Routing follows redis-py's one class per topology: a
:class:`FixedRouter` (standalone, proxy endpoint), :class:`SentinelRouter` (follows the master) or
:class:`ClusterRouter` (slot → master) per client, chosen by the target's kind (:data:`ROUTERS`).

Each call is timed with ``time.perf_counter_ns`` around send + reply and recorded in µs into the
process's :class:`loadgen.histograms.LatencyRecorder` (measured, and corrected in open loop). Failures
fire Locust's ``request`` event at once; successes reach Locust's stats in bulk once per second
(:func:`loadgen.histograms.feed_locust_stats`), because a per-request event costs about as much as
the round trip itself. Locust's stats, CSV and web UI keep working, in ms.

A lost connection is a failed request (recorded as an error), the socket is dropped and the next
call reconnects; a ``NOSCRIPT`` reply loads the script and retries once, as Nuxeo's executor does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gevent
import hiredis
from gevent import socket as gsocket
from gevent.hub import get_hub
from redis.crc import key_slot

from loadgen.histograms import LatencyRecorder
from rcapcore.nuxeo.ops import Op
from rcapcore.nuxeo.scripts import SCRIPTS_BY_SHA

REQUEST_TYPE = "redis"
pack_command = hiredis.pack_command
ReplyError = hiredis.ReplyError
_perf_ns = time.perf_counter_ns
_STALE_NODE_ERRORS = ("READONLY", "LOADING", "MASTERDOWN")
ENDPOINT_TIMEOUT_S = 5.0  # connect timeout of the load connections, s


class RequestFailed(Exception):
    """A request did not get a normal reply: connection lost, timeout or a Redis error reply.

    It has already been counted as a failed request; the user decides how to go on.
    """


class ConnectionLost(RequestFailed):
    """The socket failed or closed; the client reconnects on its next call."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to open one Redis connection (password never logged: ``repr`` hides it)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    db: int = 0
    ssl_context: Any = None
    timeout_s: float = 10.0  # connect timeout, s

    def __repr__(self) -> str:
        return f"Endpoint({self.host}:{self.port}, db={self.db}, tls={self.ssl_context is not None})"


def _ssl_context(target: Any) -> Any:
    if not target.tls:
        return None
    from gevent import ssl as gssl  # noqa: PLC0415  (cooperative TLS sockets)

    ctx = gssl.create_default_context(cafile=target.tls_ca)
    if target.tls_cert:
        ctx.load_cert_chain(target.tls_cert, target.tls_key)
    ctx.check_hostname = False  # lab certificates name 127.0.0.1 loosely; the CA is still verified
    return ctx


class Connection:
    """One RESP connection; replies parsed by hiredis (error replies come back as ``ReplyError`` values).

    Plain TCP bypasses gevent's Python socket wrapper: ``send``/``recv`` go straight to the
    non-blocking OS socket, and only when it would block does the greenlet park on a reusable I/O
    watcher — the same mechanism gevent uses, without its per-call layers (≈1.5× more requests per
    second). TLS goes through gevent's SSL socket. Reads have no timeout: a run is bounded by Locust's
    run time, and a user that must wake up (a subscriber) wraps the read in ``gevent.Timeout``.
    """

    __slots__ = ("endpoint", "sock", "reader", "_recv", "_send", "_wait", "_readable")

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        sock = gsocket.create_connection((endpoint.host, endpoint.port), timeout=endpoint.timeout_s)
        sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()
        if endpoint.ssl_context is not None:
            sock = endpoint.ssl_context.wrap_socket(sock, server_hostname=endpoint.host)
            self._recv, self._send = sock.recv, None
        else:
            raw = sock._sock  # the OS socket under gevent's wrapper, already non-blocking
            raw.setblocking(False)
            hub = get_hub()
            self._recv, self._send = raw.recv, raw.send
            self._wait, self._readable = hub.wait, hub.loop.io(raw.fileno(), 1)
        self.sock = sock
        if endpoint.password:
            auth = ("AUTH", endpoint.username, endpoint.password) if endpoint.username else ("AUTH", endpoint.password)
            self._handshake(auth)
        if endpoint.db:
            self._handshake(("SELECT", str(endpoint.db)))

    def _handshake(self, args: tuple) -> None:
        reply = self.call(pack_command(args))
        if type(reply) is ReplyError:
            self.close()
            raise ConnectionLost(f"{args[0]} refused by {self.endpoint.host}:{self.endpoint.port}: "
                                 f"{str(reply).split(chr(10))[0]}")

    def call(self, packed: bytes) -> Any:
        """Send one packed command and return its reply."""
        self.send(packed)
        return self.read()

    def send(self, packed: bytes) -> None:
        send = self._send
        if send is None:
            self.sock.sendall(packed)
            return
        try:
            sent = send(packed)
        except BlockingIOError:
            sent = 0
        if sent < len(packed):  # socket buffer full (large payloads): let gevent wait for room
            self.sock.sendall(packed[sent:])

    def read(self) -> Any:
        """The next reply (waits for it)."""
        reader = self.reader
        reply = reader.gets()
        if reply is False and self._send is not None:
            # a reply cannot be back yet: wait for readability instead of a recv that fails (EAGAIN)
            self._wait(self._readable)
        while reply is False:
            try:
                data = self._recv(65536)
            except BlockingIOError:  # plain TCP only: park until readable
                self._wait(self._readable)
                continue
            if not data:
                raise ConnectionResetError("connection closed by server")
            reader.feed(data)
            reply = reader.gets()
        return reply

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class FixedRouter:
    """Every command to one endpoint: a standalone node, or a proxy endpoint (the enterprise stand-in,
    where the proxy follows the master). Like redis-py's ``Redis``: one connection per client."""

    sharded = False
    __slots__ = ("_resolve", "_conn")

    def __init__(self, resolve: Callable[[], Endpoint]) -> None:
        self._resolve = resolve
        self._conn: Connection | None = None

    @classmethod
    def factory(cls, target: Any) -> Callable[[], FixedRouter]:
        host, port = target.hosts[0]
        fixed = _endpoint(target, _ssl_context(target), host, port)
        return lambda: cls(lambda: fixed)

    def endpoint(self) -> Endpoint:
        """Where a new connection goes now."""
        return self._resolve()

    def connection(self, key: bytes | None) -> Connection:
        """This client's connection (opened on first use or after :meth:`drop`); ``key`` is ignored."""
        conn = self._conn
        if conn is None:
            conn = self._conn = Connection(self._resolve())
        return conn

    def dedicated(self, key: bytes | None = None) -> Connection:
        """A new connection of its own (e.g. for PSUBSCRIBE)."""
        return Connection(self._resolve())

    def drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SentinelRouter(FixedRouter):
    """Like :class:`FixedRouter`, but each (re)connection asks the sentinels for the current master, so
    a client follows a failover (redis-py's ``Sentinel.master_for``). The sentinel client is per process."""

    __slots__ = ()

    @classmethod
    def factory(cls, target: Any) -> Callable[[], SentinelRouter]:
        from loadgen.topology.targets import connect  # noqa: PLC0415  (redis-py, not needed by fixed routes)

        sentinel = connect(target).sentinel
        service = target.service_name
        ctx = _ssl_context(target)

        def current_master() -> Endpoint:
            try:
                host, port = sentinel.discover_master(service)
            except Exception as exc:  # noqa: BLE001  (redis-py raises several types; all mean "no master now")
                raise ConnectionLost(f"no master for {service}: {exc}") from None
            return _endpoint(target, ctx, host, port)

        return lambda: cls(current_master)


class ClusterRouter:
    """Redis Cluster: each command to the master of its key's hash slot (redis-py's ``RedisCluster``),
    one connection per node; the slot map is read from a seed at first use and after MOVED/ASK."""

    sharded = True
    __slots__ = ("_seeds", "_nodes", "_slots")

    def __init__(self, seeds: Sequence[Endpoint]) -> None:
        self._seeds = list(seeds)
        self._nodes: dict[tuple[str, int], Connection] = {}
        self._slots: list[tuple[str, int] | None] = []

    @classmethod
    def factory(cls, target: Any) -> Callable[[], ClusterRouter]:
        ctx = _ssl_context(target)
        seeds = [_endpoint(target, ctx, h, p, db=0) for h, p in target.hosts]
        return lambda: cls(seeds)

    def connection(self, key: bytes | None) -> Connection:
        """This client's connection to the master serving ``key``'s slot."""
        addr = self._addr(key)
        conn = self._nodes.get(addr)
        if conn is None:
            conn = self._nodes[addr] = Connection(self._node_endpoint(addr))
        return conn

    def dedicated(self, key: bytes | None = None) -> Connection:
        return Connection(self._node_endpoint(self._addr(key)))

    def _addr(self, key: bytes | None) -> tuple[str, int]:
        """The master serving ``key``'s slot (any master for a keyless command)."""
        if not self._slots:
            self._refresh_slots()
        addr = self._slots[key_slot(key)] if key is not None else None
        return addr if addr is not None else next(a for a in self._slots if a is not None)

    def redirected(self, reply_text: str) -> Connection | None:
        """After ``MOVED``/``ASK``: forget the slot map; for ``ASK``, the target node's connection, with
        ``ASKING`` sent (the caller resends there once); for ``MOVED``, None (the caller retries)."""
        self._slots = []
        if reply_text.startswith("MOVED"):
            return None
        host, port = reply_text.split()[2].rsplit(":", 1)
        addr = (host, int(port))
        conn = self._nodes.get(addr)
        if conn is None:
            conn = self._nodes[addr] = Connection(self._node_endpoint(addr))
        conn.call(pack_command(("ASKING",)))
        return conn

    def drop(self) -> None:
        for conn in self._nodes.values():
            conn.close()
        self._nodes.clear()

    def _node_endpoint(self, addr: tuple[str, int]) -> Endpoint:
        seed = self._seeds[0]
        return Endpoint(addr[0], addr[1], seed.username, seed.password, 0, seed.ssl_context, seed.timeout_s)

    def _refresh_slots(self) -> None:
        last: Exception | None = None
        for seed in list(self._seeds) + [conn.endpoint for conn in self._nodes.values()]:
            try:
                conn = Connection(seed)
                try:
                    reply = conn.call(pack_command(("CLUSTER", "SLOTS")))
                finally:
                    conn.close()
            except OSError as exc:
                last = exc
                continue
            if type(reply) is ReplyError:
                raise ConnectionLost(f"CLUSTER SLOTS failed: {reply}")
            slots: list[tuple[str, int] | None] = [None] * 16384
            for start, end, master, *_ in reply:
                host = master[0].decode() if master[0] else seed.host
                for s in range(start, end + 1):
                    slots[s] = (host, int(master[1]))
            self._slots = slots
            return
        raise ConnectionLost(f"no cluster node reachable: {last}")


Router = FixedRouter | ClusterRouter
ROUTERS: dict[str, type] = {"standalone": FixedRouter, "sentinel": SentinelRouter, "cluster": ClusterRouter}
"""``Target.kind`` → its router class (``rcapcore.topologies``: each topology's ``connect_as``)."""


def router_factory(target: Any) -> Callable[[], Router]:
    """For a :class:`loadgen.topology.targets.Target`: a function returning a new router per client
    (what is per process, e.g. the sentinel client or the resolved endpoint, is shared)."""
    return ROUTERS[target.kind].factory(target)


def _endpoint(target: Any, ssl_context: Any, host: str, port: int, *, db: int | None = None) -> Endpoint:
    return Endpoint(host, int(port), target.username, target.password, target.db if db is None else db,
                    ssl_context, ENDPOINT_TIMEOUT_S)


class RedisClient:
    """Times each Redis call, records µs, reports failures to Locust; routing is its router's
    (:class:`FixedRouter`, :class:`SentinelRouter` or :class:`ClusterRouter`, see :func:`router_factory`),
    which owns this user's connections."""

    def __init__(self, environment: Any, recorder: LatencyRecorder, router: Router, *,
                 reconnect_backoff_s: float = 0.1) -> None:
        self._fire = environment.events.request.fire if environment is not None else None
        self._record = recorder.record
        self._record_error = recorder.record_error
        self._router = router
        self._route = router.connection
        self._sharded = router.sharded
        self._conn: Connection | None = None
        """The one connection of an unsharded router, cached here for the hot path."""
        self._backoff_s = reconnect_backoff_s
        self.pool: Any = None
        """``pool: nuxeo``: a shared :class:`loadgen.users.pool.EmulatedNodePool` lent per round trip."""
        self.lag_ns = 0
        """Open loop: how long the current iteration waited behind the server (ns); adds to the corrected latency."""
        self.served_ns = 0
        """Open loop: service time of this iteration's requests so far (ns), for the pacer's ideal schedule."""
        self.open_loop = False

    # -- connections -------------------------------------------------------------------------
    def drop_connections(self) -> None:
        """Close every socket (after an error, or at user stop); the next call reconnects."""
        self._conn = None
        self._router.drop()

    def connection_for(self, key: bytes | None = None) -> Connection:
        """A fresh dedicated connection (e.g. for PSUBSCRIBE), not timed and not shared."""
        return self._router.dedicated(key)

    # -- requests ----------------------------------------------------------------------------
    def execute(self, op: str, packed: bytes, key: bytes | None = None) -> Any:
        """Send one pre-packed command as request ``op`` and return its raw reply.

        ``key`` routes the command in a cluster. Raises :class:`RequestFailed` (already recorded)
        on an error reply or a lost connection.
        """
        if self.pool is not None and not self._sharded:
            return self._execute_pooled(op, packed, key)
        try:
            conn = self._conn
            if conn is None:
                conn = self._route(key)
                if not self._sharded:
                    self._conn = conn
            t0 = _perf_ns()
            conn.send(packed)
            reply = conn.read()
            t1 = _perf_ns()
        except (OSError, ConnectionLost) as exc:
            self._failed(op, 0.0, exc)
            self.drop_connections()
            gevent.sleep(self._backoff_s)
            raise ConnectionLost(f"{op}: {exc}") from None
        if type(reply) is ReplyError:
            return self._error_reply(op, packed, key, reply, t0, t1)
        us = (t1 - t0) // 1000
        if self.open_loop:
            self.served_ns += t1 - t0
            self._record(op, us, us + self.lag_ns // 1000)
        else:
            self._record(op, us)
        return reply

    def _execute_pooled(self, op: str, packed: bytes, key: bytes | None) -> Any:
        """:meth:`execute` through an emulated Nuxeo pool: the time includes waiting for a connection
        and opening one, as the application sees it."""
        pool = self.pool
        t0 = _perf_ns()
        conn = None
        try:
            conn = pool.borrow()
            conn.send(packed)
            reply = conn.read()
            t1 = _perf_ns()
        except (OSError, ConnectionLost) as exc:
            if conn is not None:
                pool.give_back(conn, broken=True)
            self._failed(op, 0.0, exc)
            gevent.sleep(self._backoff_s)
            raise ConnectionLost(f"{op}: {exc}") from None
        pool.give_back(conn)
        if type(reply) is ReplyError:
            return self._error_reply(op, packed, key, reply, t0, t1)
        us = (t1 - t0) // 1000
        if self.open_loop:
            self._record(op, us, us + self.lag_ns // 1000)
        else:
            self._record(op, us)
        return reply

    def call(self, op: Op) -> Any:
        """Run one :class:`rcapcore.nuxeo.ops.Op` (a W1 command builder's output) and parse its reply.

        ``EVALSHA`` that gets ``NOSCRIPT`` is followed by ``SCRIPT LOAD`` (its own request) and one retry.
        """
        args = op.args
        packed = pack_command(args)
        evalsha = args[0] == "EVALSHA"
        key = _route_key(args, evalsha) if self._sharded else None
        try:
            return op.parse(self.execute(op.name, packed, key))
        except RequestFailed as exc:
            if not evalsha or "NOSCRIPT" not in str(exc):
                raise
        script = SCRIPTS_BY_SHA[_bytes(args[1])]
        self.execute("SCRIPT LOAD", pack_command(("SCRIPT", "LOAD", script.source)), key)
        return op.parse(self.execute(op.name, packed, key))

    def command(self, op: str, *args: Any) -> Any:
        """Pack and :meth:`execute` a command given as arguments (raw reply); routes by ``args[1]``."""
        return self.execute(op, pack_command(args), _bytes(args[1]) if self._sharded and len(args) > 1 else None)

    def _error_reply(self, op: str, packed: bytes, key: bytes | None, reply: Any, t0: int, t1: int) -> Any:
        text = str(reply)
        if self._sharded and text.startswith(("MOVED", "ASK")):
            conn = self._router.redirected(text)
            if conn is None:
                return self.execute(op, packed, key)
            t0 = _perf_ns()
            reply = conn.call(packed)
            t1 = _perf_ns()
            if type(reply) is not ReplyError:
                self._record(op, (t1 - t0) // 1000)
                return reply
            text = str(reply)
        exc = RequestFailed(f"{op}: {text}")
        self._failed(op, (t1 - t0) / 1e6, exc)
        if text.startswith(_STALE_NODE_ERRORS):
            self.drop_connections()  # a demoted or restarting node: reconnect, asking the sentinels again
        raise exc

    def _failed(self, op: str, response_time_ms: float, exc: Exception) -> None:
        self._record_error(op)
        if self._fire is not None:
            self._fire(request_type=REQUEST_TYPE, name=op, response_time=response_time_ms, response_length=0,
                       exception=exc, context=None)


def _route_key(args: tuple, evalsha: bool) -> bytes | None:
    if evalsha:
        return _bytes(args[3]) if len(args) > 3 and int(args[2]) > 0 else None
    return _bytes(args[1]) if len(args) > 1 else None


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _redis_user_class() -> type:
    from locust import User  # noqa: PLC0415

    class RedisUser(User):
        """Abstract Locust User that owns a :class:`RedisClient` (``self.redis``).

        The run context (target, recorder, scenario, counters) comes from ``environment.rcap``, set by
        ``loadgen/locustfile.py`` (or a test) before users start.
        """

        abstract = True

        def __init__(self, environment: Any) -> None:
            super().__init__(environment)
            self.ctx = environment.rcap
            self.redis: RedisClient = self.ctx.new_client()

        def on_stop(self) -> None:
            self.redis.drop_connections()

    RedisUser.__module__ = __name__
    RedisUser.__qualname__ = "RedisUser"
    return RedisUser


def __getattr__(name: str) -> Any:
    # ``import locust`` monkey-patches the whole process (gevent), so the User base is only built when
    # asked for: tests and tools can use RedisClient without patching their process.
    if name == "RedisUser":
        cls = globals()["RedisUser"] = _redis_user_class()
        return cls
    raise AttributeError(name)
