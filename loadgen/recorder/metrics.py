"""Live OpenMetrics (Prometheus) series of a running bench: ``rcap bench … --metrics-port 9646``.

For long runs watched from Grafana or Prometheus. Nothing here is the record of the run (that is the
run directory); these are the same figures, exposed once per second while the run goes on:

- ``rcap_ops_per_second{op}``: completed requests in the last complete second;
- ``rcap_latency_microseconds{op, quantile}``: that second's measured p50, p99, p99.9 (µs);
- ``rcap_errors_total{op}``: failed requests since the start;
- ``rcap_server_used_memory_bytes{node}``, ``rcap_server_commands_per_second{node}``,
  ``rcap_server_connected_clients{node}``: from the server sampler;
- ``rcap_work_backlog``: WorkManager works scheduled or running, when the workload has them.

The endpoint binds to loopback unless ``host`` says otherwise, and carries no target URL or secret.
"""

from __future__ import annotations

import socket
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from rcapcore.errors import BadInput
from rcapcore.latency import MEASURED, decode

QUANTILES = {"0.5": 50.0, "0.99": 99.0, "0.999": 99.9}


class MetricsExporter:
    """An HTTP endpoint serving the live series; bound at construction (a busy port is ``BadInput``)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        if not (isinstance(port, int) and 1 <= port <= 65535):
            raise BadInput(f"--metrics-port must be a TCP port (1–65535), not {port!r}")
        self.registry = CollectorRegistry()
        self.ops = Gauge("rcap_ops_per_second", "Completed requests in the last complete second", ["op"],
                         registry=self.registry)
        self.latency = Gauge("rcap_latency_microseconds", "Measured latency of the last complete second (µs)",
                             ["op", "quantile"], registry=self.registry)
        self.errors = Counter("rcap_errors", "Failed requests since the start", ["op"], registry=self.registry)
        self.memory = Gauge("rcap_server_used_memory_bytes", "used_memory of a data node (bytes)", ["node"],
                            registry=self.registry)
        self.commands = Gauge("rcap_server_commands_per_second", "Commands processed per second by a node",
                              ["node"], registry=self.registry)
        self.clients = Gauge("rcap_server_connected_clients", "Connected clients of a node", ["node"],
                             registry=self.registry)
        self.backlog = Gauge("rcap_work_backlog", "WorkManager works scheduled or running", registry=self.registry)
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise BadInput(f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        except socket.gaierror as exc:
            raise BadInput(f"--metrics-host {host!r}: {exc}") from None
        self.port = self._server.server_port

    def observe_latency(self, records: list[dict[str, Any]]) -> None:
        """New ``latency.jsonl`` records (as the bench's follower reads them)."""
        last: dict[str, dict] = {}
        for rec in records:
            if rec.get("kind", MEASURED) != MEASURED:
                continue
            if rec.get("errors"):
                self.errors.labels(op=rec["op"]).inc(rec["errors"])
            if rec["op"] not in last or rec["t"] >= last[rec["op"]]["t"]:
                last[rec["op"]] = rec
        for op, rec in last.items():
            self.ops.labels(op=op).set(rec.get("count", 0))
            if rec.get("hdr") and rec.get("count"):
                values = decode(rec["hdr"]).get_percentile_to_value_dict(list(QUANTILES.values()))
                for q, p in QUANTILES.items():
                    self.latency.labels(op=op, quantile=q).set(values[p])

    def observe_server(self, node: Any, record: dict[str, Any]) -> None:
        """A server sample (``ServerSampler``'s ``on_sample`` callback)."""
        info = record.get("info", {})
        if "used_memory" in info:
            self.memory.labels(node=record["node"]).set(info["used_memory"])
        if "connected_clients" in info:
            self.clients.labels(node=record["node"]).set(info["connected_clients"])
        rate = record.get("derived", {}).get("commands_per_s")
        if rate is not None:
            self.commands.labels(node=record["node"]).set(rate)

    def observe_backlog(self, works: int | None) -> None:
        if works is not None:
            self.backlog.set(works)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = ["MetricsExporter"]
