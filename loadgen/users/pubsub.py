"""PubSub users (spec §3): emulated nodes holding one ``PSUBSCRIBE <prefix>*`` each, and publishers.

Messages are built by :class:`loadgen.nuxeo.pubsub.PubSubCommands` (``<nodeId>:<payload>`` with the
send time stamped inside); a subscriber records the end-to-end delivery latency (µs, send clock to
receive clock: exact on one host, only as good as clock sync across hosts) as the request
``pubsub delivery`` and counts deliveries per node, so losses per subscriber are
``published − received`` (see counters.json).
"""

from __future__ import annotations

import time

import gevent

from locust.exception import StopUser

from loadgen.clients import ConnectionLost, pack_command
from rcapcore.nuxeo.keys import subscription_pattern
from loadgen.nuxeo.pubsub import PubSubCommands, decode_message
from loadgen.users.base import QUIET_S, RcapUser

DELIVERY_REQUEST = "pubsub delivery"
PROBE_TOPIC = "rcap-probe"
"""Channel ``<prefix>rcap-probe``: publishers probe it at start until every node is subscribed."""
PROBE_TIMEOUT_S = 10.0
READ_TICK_S = 0.25
"""A subscriber wakes at least this often (s) to see whether the run is winding down."""


class PubSubSubscriber(RcapUser):
    """One emulated Nuxeo node's subscription: ``PSUBSCRIBE <prefix>*`` on a dedicated connection.

    Unlike Nuxeo, which drops its own messages, it counts every delivery, so that received equals
    published × nodes when nothing is lost. It keeps reading while the run winds down.
    """

    abstract = True

    def run_subscriber(self) -> None:
        ctx = self.ctx
        prefix = ctx.scenario.prefix
        node = ctx.node_id("n")
        counters = ctx.counters
        counters.per_subscriber[node] += 0
        record = ctx.recorder.record
        subscribe = pack_command(("PSUBSCRIBE", subscription_pattern(prefix)))
        while True:
            try:
                conn = self.sub_conn = self.redis.connection_for()
            except (OSError, ConnectionLost):
                ctx.recorder.record_error(DELIVERY_REQUEST)
                gevent.sleep(0.5)
                continue
            try:
                conn.call(subscribe)
                counters.totals["subscriptions"] += 1
                while True:
                    msg = None
                    with gevent.Timeout(READ_TICK_S, False):
                        msg = conn.read()
                    if msg is None:
                        if ctx.stopping.is_set() and time.monotonic() - ctx.last_delivery_s > QUIET_S:
                            raise StopUser()
                        continue
                    received_ns = time.time_ns()
                    if msg[0] != b"pmessage":
                        continue
                    d = decode_message(msg[2], msg[3], prefix, received_ns)
                    if d is None:
                        continue  # a start-up probe or someone else's message
                    record(DELIVERY_REQUEST, max(0, (received_ns - d.sent_ns) // 1000))
                    counters.totals["messages_delivered"] += 1
                    counters.per_subscriber[node] += 1
                    ctx.last_delivery_s = time.monotonic()
            except OSError:
                ctx.recorder.record_error(DELIVERY_REQUEST)
                counters.totals["subscriber_disconnects"] += 1
                conn.close()
                gevent.sleep(0.1)

    def on_stop(self) -> None:
        conn = getattr(self, "sub_conn", None)
        if conn is not None:
            conn.close()
        super().on_stop()

    tasks = [run_subscriber]


class PubSubPublisher(RcapUser):
    """Publishes invalidations on ``topics`` (weights for ``vcs``, ``dbs``, ``cacheinval``)."""

    abstract = True
    topics: dict[str, float] = {}
    vcs_docs = 1
    dbs_ids = 1
    nodes = 1

    def on_start(self) -> None:
        ctx = self.ctx
        self.rng = ctx.rng()
        self.cmds = PubSubCommands(ctx.node_id("p"), ctx.scenario.prefix, seed=self.rng.getrandbits(32))
        self.names = [t for t, w in self.topics.items() if w > 0]
        self.weights = [self.topics[t] for t in self.names]
        self.kwargs = {"vcs": {"docs": self.vcs_docs}, "dbs": {"ids": self.dbs_ids}, "cacheinval": {}}
        self.wait_for_subscribers()

    def wait_for_subscribers(self) -> None:
        """Probe until Redis reports every node subscribed (bounded), so no early message is lost."""
        probe = pack_command(("PUBLISH", f"{self.ctx.scenario.prefix}{PROBE_TOPIC}", b"probe"))
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while time.monotonic() < deadline and not self.ctx.stopping.is_set():
            try:
                if self.redis.execute("PUBLISH probe", probe) >= self.nodes:
                    return
            except ConnectionLost:
                pass
            gevent.sleep(0.05)

    def publish_one(self) -> None:
        topic = self.names[0] if len(self.names) == 1 else self.rng.choices(self.names, self.weights)[0]
        op = self.cmds.publish(topic, sent_ns=time.time_ns(), **self.kwargs[topic])
        counters = self.ctx.counters
        counters.totals["messages_published"] += 1
        try:
            receivers = self.redis.call(op)
        except ConnectionLost:
            counters.totals["publish_errors"] += 1
            raise
        counters.totals["publish_receivers"] += receivers

    def run_publisher(self) -> None:
        self.loop(self.publish_one)

    tasks = [run_publisher]
