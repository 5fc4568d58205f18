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


def pubsub_fanout_bytes_per_s(messages_per_s: float, payload_bytes: int, subscribers: int,
                              pattern: str = "nuxeo:*", channel: str = "nuxeo:vcs:default") -> float:
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


def link_bits_per_s(bytes_per_s: float, headroom: float = 0.5) -> float:
    """NIC capacity to plan for: traffic in bits/s with ``headroom`` spare (0.5 → link at most 50 % busy)."""
    return bytes_per_s * 8 / (1 - headroom)
