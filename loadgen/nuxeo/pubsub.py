"""PubSub on Redis (spec §3): channel names, stamped invalidation messages, a synchronous node.

Every message is ``<nodeId>:<payload>``. Each payload carries a *stamp* (send time in ns since the
epoch and the publisher's sequence number) in a form that keeps its realistic shape, so receivers can
measure end-to-end latency and count losses per publisher:

* ``vcs``: a Java-serialized look-alike (``AC ED 00 05`` …), ≈500 B for one document + 155 B per extra
  document; the stamp is the first serialized string.
* ``dbs``: ``,<id1>,<id2>…``, 37 B per document id; the first id is the stamp, shaped as a UUID.
* ``cacheinval``: ``<cacheName>/<key>``, the key being the stamp; 40–100 B (the 36-character stamp sets
  the floor, the spec's range is 20–100 B).
"""

from __future__ import annotations

import random
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rcapcore.errors import BadInput
from rcapcore.nuxeo.keys import (DEFAULT_PREFIX, cacheinval_channel, dbs_channel, subscription_pattern,
                                vcs_channel)
from rcapcore.nuxeo.ops import Op, parse_int_reply
from rcapcore.nuxeo.payloads import (CACHE_NAMES, CACHEINVAL_MAX_BYTES, CACHEINVAL_MIN_BYTES, JAVA_MAGIC, STAMP_CHARS,
                                     VCS_EXTRA_DOC_BYTES, VCS_ONE_DOC_BYTES)


_VCS_CLASS = b"org.nuxeo.ecm.core.storage.sql.VCSInvalidations"
_VCS_HEAD = (JAVA_MAGIC + b"sr" + struct.pack(">H", len(_VCS_CLASS)) + _VCS_CLASS + b"\x00" * 8
             + b"\x02\x00\x00xpt" + struct.pack(">H", STAMP_CHARS))


def stamp(sent_ns: int, seq: int) -> bytes:
    """36 hex characters in UUID layout: 16 for the send time (ns), 16 for the sequence number."""
    t = f"{sent_ns:016x}"
    s = f"{seq:016x}"
    return f"{t[:8]}-{t[8:12]}-{t[12:16]}-{s[:4]}-{s[4:]}".encode()


def read_stamp(token: bytes) -> tuple[int, int]:
    """``(sent_ns, seq)`` from a :func:`stamp`."""
    h = token.replace(b"-", b"")
    return int(h[:16], 16), int(h[16:32], 16)


class Delivery(NamedTuple):
    """One received message: topic (channel minus prefix), publisher node id, stamp, receive time (ns)."""

    topic: str
    publisher: str
    sent_ns: int
    seq: int
    received_ns: int
    size_bytes: int

    @property
    def latency_us(self) -> float:
        """End-to-end delivery latency in µs (send clock and receive clock are the same host's)."""
        return (self.received_ns - self.sent_ns) / 1000.0


class PubSubCommands:
    """Pure builders of ``PUBLISH`` round trips for one node; the filler is precomputed per size."""

    def __init__(self, node_id: str, prefix: str = DEFAULT_PREFIX, repository: str = "default", seed: int = 0):
        if not node_id or ":" in node_id:
            raise BadInput(f"invalid node id {node_id!r}: it must be non-empty and contain no ':'")
        self.node_id = node_id
        self.prefix = prefix
        self.rng = random.Random(seed)
        self._node = node_id.encode() + b":"
        self.channels = {
            "vcs": vcs_channel(repository, prefix).encode(),
            "dbs": dbs_channel(repository, prefix).encode(),
            "cacheinval": cacheinval_channel(prefix).encode(),
        }
        self._fill: dict[int, bytes] = {}
        self.seq = 0

    def _filler(self, n: int) -> bytes:
        f = self._fill.get(n)
        if f is None:
            f = self._fill[n] = self.rng.randbytes(n)
        return f

    def _next(self, sent_ns: int | None) -> bytes:
        self.seq += 1
        return stamp(time.time_ns() if sent_ns is None else sent_ns, self.seq)

    def vcs(self, docs: int = 1, sent_ns: int | None = None) -> Op:
        """One VCS invalidation for a transaction that touched ``docs`` documents."""
        size = VCS_ONE_DOC_BYTES + VCS_EXTRA_DOC_BYTES * (max(docs, 1) - 1)
        head = _VCS_HEAD + self._next(sent_ns)
        msg = self._node + head + self._filler(size - len(head))
        return Op("PUBLISH vcs", ("PUBLISH", self.channels["vcs"], msg), parse_int_reply)

    def dbs(self, ids: int = 1, sent_ns: int | None = None) -> Op:
        """One DBS invalidation listing ``ids`` updated/deleted document ids."""
        body = b"," + self._next(sent_ns)
        if ids > 1:
            body += self._dbs_ids(ids - 1)
        return Op("PUBLISH dbs", ("PUBLISH", self.channels["dbs"], self._node + body), parse_int_reply)

    def _dbs_ids(self, n: int) -> bytes:
        key = -n  # cached under negative sizes, apart from the random filler
        f = self._fill.get(key)
        if f is None:
            f = self._fill[key] = b"".join(
                b"," + stamp(self.rng.getrandbits(64), self.rng.getrandbits(64)) for _ in range(n))
        return f

    def cacheinval(self, size_bytes: int | None = None, sent_ns: int | None = None) -> Op:
        """One cache invalidation ``<cacheName>/<key>``, ``size_bytes`` long after ``<nodeId>:`` if possible.

        Drawn in 20–100 B when ``size_bytes`` is None; the stamp makes 40 B the practical floor.
        """
        if size_bytes is None:
            size_bytes = self.rng.randint(CACHEINVAL_MIN_BYTES, CACHEINVAL_MAX_BYTES)
        room = size_bytes - STAMP_CHARS - 1
        names = [n for n in CACHE_NAMES if len(n) <= room] or ["acl"]
        name = max(names, key=len).encode()
        body = name + b"/" + self._next(sent_ns)
        if len(body) < size_bytes:  # the rest of a longer cache key
            body += b"/" + self._filler(size_bytes).hex().encode()[: size_bytes - len(body) - 1]
        return Op("PUBLISH cacheinval", ("PUBLISH", self.channels["cacheinval"], self._node + body),
                  parse_int_reply)

    def publish(self, topic: str, **kwargs) -> Op:
        """The builder for ``topic`` (``vcs``, ``dbs`` or ``cacheinval``)."""
        return getattr(self, topic)(**kwargs)


def decode_message(channel: bytes | str, data: bytes, prefix: str = DEFAULT_PREFIX,
                   received_ns: int | None = None) -> Delivery | None:
    """A :class:`Delivery` from a received ``(channel, data)``, or ``None`` if it carries no stamp."""
    received_ns = time.time_ns() if received_ns is None else received_ns
    if isinstance(channel, bytes):
        channel = channel.decode()
    topic = channel[len(prefix):] if channel.startswith(prefix) else channel
    publisher, sep, payload = data.partition(b":")
    if not sep:
        return None
    kind = topic.split(":", 1)[0]
    try:
        if kind == "vcs":
            token = payload[len(_VCS_HEAD):len(_VCS_HEAD) + STAMP_CHARS]
        elif kind == "dbs":
            token = payload[1:1 + STAMP_CHARS]
        elif kind == "cacheinval":
            token = payload.partition(b"/")[2][:STAMP_CHARS]
        else:
            return None
        sent_ns, seq = read_stamp(token)
    except ValueError:
        return None
    return Delivery(topic, publisher.decode(), sent_ns, seq, received_ns, len(data))


@dataclass
class ReceiverStats:
    """What one subscribing node received: per publisher counts and sequence numbers, latencies (µs)."""

    received: int = 0
    unstamped: int = 0
    by_publisher: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_seq_by_publisher: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies_us: list[float] = field(default_factory=list)

    def lost_from(self, publisher: str, published: int) -> int:
        """Messages ``publisher`` sent (``published``, from its own count) that never arrived here."""
        return published - self.by_publisher.get(publisher, 0)


class PubSubNode:
    """An emulated Nuxeo node: publishes stamped invalidations and holds one ``PSUBSCRIBE <prefix>*``.

    Unlike Nuxeo, which drops its own messages, the node counts every delivery (its own included), so
    that received = published × nodes when nothing is lost.
    """

    def __init__(self, redis: Any, node_id: str, prefix: str = DEFAULT_PREFIX, repository: str = "default",
                 seed: int = 0):
        self.redis = redis
        self.prefix = prefix
        self.commands = PubSubCommands(node_id, prefix, repository, seed)
        self.published: int = 0
        self.stats = ReceiverStats()
        self._pubsub = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def node_id(self) -> str:
        return self.commands.node_id

    def publish(self, topic: str, **kwargs) -> int:
        """Publish one message on ``topic``; returns how many subscribers Redis delivered it to."""
        op = self.commands.publish(topic, **kwargs)
        receivers = op.parse(self.redis.execute_command(*op.args))
        self.published += 1
        return receivers

    def subscribe(self) -> None:
        """``PSUBSCRIBE <prefix>*`` on a dedicated connection and start the reader thread."""
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(subscription_pattern(self.prefix))
        # wait for the subscription confirmation, as Nuxeo does before it starts
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            self._pubsub.get_message(timeout=0.1, ignore_subscribe_messages=False)
            if self._pubsub.subscribed:
                break
        self._stop.clear()
        self._thread = threading.Thread(target=self._read, name=f"pubsub-{self.node_id}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            msg = self._pubsub.get_message(timeout=0.05)
            if msg is None or msg.get("type") != "pmessage":
                continue
            d = decode_message(msg["channel"], msg["data"], self.prefix)
            with self._lock:
                s = self.stats
                if d is None:
                    s.unstamped += 1
                    continue
                s.received += 1
                s.by_publisher[d.publisher] += 1
                if d.seq > s.max_seq_by_publisher[d.publisher]:
                    s.max_seq_by_publisher[d.publisher] = d.seq
                s.latencies_us.append(d.latency_us)

    def wait_for(self, received: int, timeout_s: float = 5.0) -> bool:
        """Block until ``received`` deliveries were counted (bounded by ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.stats.received >= received:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the reader and release the subscription connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None

    def __enter__(self) -> "PubSubNode":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
