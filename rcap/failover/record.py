"""A fault experiment's run directory: manifest, events timeline, server samples, ``result.json``.

Uses the recorder's :class:`~loadgen.recorder.rundir.RunDir` (the one writer of ``data/runs``), so
experiment runs sit next to benches and load with ``analysis.runs``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from rcap.failover.nodes import data_nodes, node_client
from loadgen.recorder import manifest as facts
from loadgen.recorder.rundir import RunDir, utc_iso
from rcapcore.rundata import MANIFEST, RESULT
from loadgen.recorder.sampler import NodeProbe, ServerSampler
from loadgen.topology.lab import Topology



class ExperimentRun:
    """Opens the run directory and writes the manifest (status ``running``); :meth:`watch` samples a
    topology's data nodes every second (several topologies may follow one another); :meth:`finish`
    writes ``result.json`` and the final manifest, scrubs secrets and seals the directory."""

    def __init__(self, out: str | Path, label: str, experiment: str, spec: Any, secrets: list[str] = ()):
        self.run = RunDir.create(out, label, secrets_to_scrub=[s for s in secrets if s])
        self.start_t = time.time()
        self.sampler: ServerSampler | None = None
        self.manifest: dict[str, Any] = {
            "manifest_version": facts.MANIFEST_VERSION,
            "run_id": self.run.path.name,
            "kind": "experiment",
            "experiment": experiment,
            "status": "running",
            "start_t": round(self.start_t, 3),
            "start": utc_iso(self.start_t),
            "parameters": _plain(spec),
            "topologies": [],
            "host": facts.host(),
            "software": facts.software(),
            "warnings": [],
        }
        self.run.write_json(MANIFEST, self.manifest)

    def watch(self, topo: Topology, label: str | None = None) -> None:
        """Record ``topo`` in the manifest and sample its data nodes until :meth:`unwatch`."""
        self.unwatch()
        password = topo.node_options().password
        if password and password not in self.run.secrets_to_scrub:
            self.run.secrets_to_scrub.append(password)
        server: dict = {}
        try:
            with node_client(topo, data_nodes(topo)[0]) as client:
                server, warnings = facts.server(client)
            self.manifest["warnings"] += [w for w in warnings if w not in self.manifest["warnings"]]
        except Exception as exc:  # noqa: BLE001  (facts are best effort; the experiment is not)
            self.manifest["warnings"].append(f"server facts unavailable: {type(exc).__name__}")
        target = topo.target
        self.manifest["topologies"].append({
            "label": label or topo.kind, "kind": topo.kind, "binary": topo.binary.to_dict(),
            "options": topo.options, "server": server,
            "target": {"url": target.url, "kind": target.kind} if target else None,
            "nodes": [{"name": n.name, "role": n.role, "host": n.host, "port": n.port} for n in topo.nodes]})
        self.run.write_json(MANIFEST, self.manifest)
        probes = [NodeProbe(host=n.host, port=n.port, role=n.role, name=f"{label}-{n.name}" if label else n.name,
                            connect=lambda n=n: node_client(topo, n, timeout_s=0.5)) for n in data_nodes(topo)]
        self.sampler = ServerSampler(self.run, probes, interval_s=1.0).start()

    def unwatch(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None

    def event(self, kind: str, t: float | None = None, **fields: Any) -> dict:
        return self.run.event(kind, t=t, **fields)

    def finish(self, result: dict, status: str, error: str | None = None) -> Path:
        """Write ``result.json`` and the final manifest, then scrub and seal; returns the result path."""
        self.unwatch()
        end_t = time.time()
        result = {**result, "status": status, "run_id": self.run.path.name}
        if error:
            result["error"] = error
        self.run.write_json(RESULT, result)
        self.manifest.update(status=status, end_t=round(end_t, 3), end=utc_iso(end_t))
        if error:
            self.manifest["error"] = error
        self.run.write_json(MANIFEST, self.manifest)
        self.run.scrub_secrets()
        self.run.seal()
        return self.run.file(RESULT)


def _plain(spec: Any) -> Any:
    return dataclasses.asdict(spec) if dataclasses.is_dataclass(spec) else spec
