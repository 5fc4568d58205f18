"""Network traffic of a Redis node: bytes per operation, replication stream, PubSub fan-out (bytes/s)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rcapcore.errors import BadInput


def resp_bulk_bytes(payload_bytes: int) -> int:
    """A RESP bulk string on the wire: ``$<len>\\r\\n<payload>\\r\\n``."""
    return 1 + len(str(payload_bytes)) + 2 + payload_bytes + 2


def pmessage_bytes(pattern: str, channel: str, payload_bytes: int) -> int:
    """One PSUBSCRIBE delivery (``*4 pmessage pattern channel payload``) in bytes."""
    return 4 + resp_bulk_bytes(8) + resp_bulk_bytes(len(pattern)) + resp_bulk_bytes(len(channel)) + \
        resp_bulk_bytes(payload_bytes)


# Nuxeo's PubSub: every node PSUBSCRIBEs ``nuxeo:*``; cache invalidations are published on this channel.
NUXEO_PATTERN = "nuxeo:*"
NUXEO_CHANNEL = "nuxeo:vcs:default"


def pubsub_fanout_bytes_per_s(messages_per_s: float, payload_bytes: int, subscribers: int,
                              pattern: str = NUXEO_PATTERN, channel: str = NUXEO_CHANNEL) -> float:
    """Server → subscribers bytes/s: every message goes to every subscriber (Nuxeo: every node)."""
    return messages_per_s * subscribers * pmessage_bytes(pattern, channel, payload_bytes)


# Redis 7 replicates a script's effects (MULTI, each write, EXEC), not the EVALSHA: a 1.5 KB work lifecycle
# sent 4.35 KB in and 10.66 KB to its replica (BENCHMARKS.md "Model validation"): the payload twice
# (scheduling-work and running-work HSET it) plus ≈ 7.66 KB of SADD/HSET/LPUSH/SREM/HDEL/HINCRBY framing.
REPL_OVERHEAD_BYTES_PER_WORK = 7660


def replication_bytes_per_work(payload_bytes: float) -> float:
    """Bytes the master sends each replica per WorkManager work lifecycle (measured model)."""
    return 2 * payload_bytes + REPL_OVERHEAD_BYTES_PER_WORK


def replication_bytes_per_s(write_bytes_in_per_s: float, replicas: int) -> float:
    """The master forwards its write stream to each replica (plain writes: ≈ the write traffic it receives;
    for works use :func:`replication_bytes_per_work`)."""
    return write_bytes_in_per_s * replicas


@dataclass(frozen=True)
class WireBytes:
    """Average bytes per command in and out of a node, measured from INFO counters."""

    in_per_op: float
    out_per_op: float
    repl_out_per_s: float

    def to_dict(self) -> dict:
        return {"in_per_op": self.in_per_op, "out_per_op": self.out_per_op, "repl_out_per_s": self.repl_out_per_s}


def wire_bytes_from_samples(server: pd.DataFrame) -> WireBytes:
    """From one node's samples: Δtotal_net_input_bytes / Δtotal_commands_processed, same for output."""
    df = server.sort_values("t")
    if len(df) < 2:
        raise BadInput("need at least two server samples to measure bytes per operation")
    a, b = df.iloc[0], df.iloc[-1]
    ops = float(b["total_commands_processed"] - a["total_commands_processed"])
    if ops <= 0:
        raise BadInput("no commands between the samples")
    repl = float(b.get("total_net_repl_output_bytes", 0) - a.get("total_net_repl_output_bytes", 0))
    dt = float(b["t"] - a["t"]) or 1.0
    return WireBytes(float(b["total_net_input_bytes"] - a["total_net_input_bytes"]) / ops,
                     float(b["total_net_output_bytes"] - a["total_net_output_bytes"]) / ops, repl / dt)


LINK_HEADROOM = 0.5  # plan the NIC at most 50 % busy


def link_bits_per_s(bytes_per_s: float, headroom: float = LINK_HEADROOM) -> float:
    """NIC capacity to plan for: traffic in bits/s with ``headroom`` spare (0.5 → link at most 50 % busy)."""
    return bytes_per_s * 8 / (1 - headroom)


# Bytes on the wire around the payloads, for the sizing estimate of a node's traffic (``node_traffic``):
SCRIPT_ARGS_BYTES = 420  # EVALSHA <sha> 8 <8 keys> <argv> without the payload (measured on the builders)
WORK_PAYLOADS_IN_PER_WORK = 2  # a work's payload reaches Redis twice (scheduling-work and running-work HSET it)
EVALSHA_PER_WORK_LIFECYCLE = 4  # the script calls of one work lifecycle (worker re-polls count as other commands)
EVALSHA_REPLY_BYTES = 40  # one script's RESP reply without the payload
COMMAND_FRAMING_BYTES = 60  # a KV command's or a PUBLISH's RESP framing, key or channel included
KV_VALUE_SHARE_IN = 0.5  # a KV command carries half a value in on average (writes send one, reads none)
KV_WRITE_SHARE = 0.5  # the share of KV traffic in that writes and so is replicated


@dataclass(frozen=True)
class NodeTraffic:
    """Network traffic of the master node (bytes/s) and the link to plan for it (Gbit/s)."""

    in_bytes_per_s: float
    out_bytes_per_s: float
    replication_bytes_per_s: float
    pubsub_fanout_bytes_per_s: float
    link_gbps: float

    def to_dict(self) -> dict:
        return {"in_bytes_per_s": self.in_bytes_per_s, "out_bytes_per_s": self.out_bytes_per_s,
                "replication_bytes_per_s": self.replication_bytes_per_s,
                "pubsub_fanout_bytes_per_s": self.pubsub_fanout_bytes_per_s, "link_gbps": self.link_gbps}


def node_traffic(*, works_per_s: float, work_payload_bytes: float, other_ops_per_s: float, kv_value_bytes: float,
                 publishes_per_s: float, pubsub_message_bytes: float, pubsub_deliveries_per_s: float,
                 replicas: int, mass_arrival_works_per_s: float = 0.0, mass_consumed_works_per_s: float = 0.0,
                 mass_payload_bytes: float = 0) -> NodeTraffic:
    """The master's bytes in and out per second for a load (rates per second, sizes in bytes).

    In: each steady work's payload twice plus four script calls; each mass-operation work scheduled (its
    payload and one script call); KV commands (half a value each plus framing); PUBLISHes.
    Out: each steady work's payload once plus four script replies; each mass-operation work consumed; KV
    replies (as much as KV requests); the PubSub fan-out; the replication stream to every replica (works
    replicate as measured by :func:`replication_bytes_per_work`, half the KV traffic writes, PUBLISHes are
    propagated).
    """
    write_in = works_per_s * (WORK_PAYLOADS_IN_PER_WORK * work_payload_bytes
                              + EVALSHA_PER_WORK_LIFECYCLE * SCRIPT_ARGS_BYTES) + mass_arrival_works_per_s * (
        mass_payload_bytes + SCRIPT_ARGS_BYTES)
    kv_in = other_ops_per_s * (kv_value_bytes * KV_VALUE_SHARE_IN + COMMAND_FRAMING_BYTES)
    pub_in = publishes_per_s * (pubsub_message_bytes + COMMAND_FRAMING_BYTES)
    in_bps = write_in + kv_in + pub_in
    fanout = pubsub_deliveries_per_s * pmessage_bytes(NUXEO_PATTERN, NUXEO_CHANNEL, int(pubsub_message_bytes))
    repl = replicas * (works_per_s * replication_bytes_per_work(work_payload_bytes)
                       + mass_arrival_works_per_s * replication_bytes_per_work(mass_payload_bytes)
                       + kv_in * KV_WRITE_SHARE + pub_in)
    out_bps = works_per_s * (work_payload_bytes + EVALSHA_PER_WORK_LIFECYCLE * EVALSHA_REPLY_BYTES) + \
        mass_consumed_works_per_s * mass_payload_bytes + kv_in + fanout + repl
    return NodeTraffic(in_bps, out_bps, repl, fanout, link_bits_per_s(max(in_bps, out_bps)) / 1e9)
