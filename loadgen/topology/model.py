"""The bottom of the lab: what a node is, and what a :class:`Launcher` needs from the topology it fills.

Import order, one way only: ``model`` ← ``launcher`` ← the builders (standalone, sentinel, enterprise,
cluster) ← ``registry`` ← ``lab`` (the ``Topology`` life cycle: up, status, down, fault injection).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Protocol

from loadgen.topology.binaries import RedisBinary
from loadgen.topology.processes import ProcessId
from loadgen.topology.targets import Target


@dataclass(frozen=True)
class Node:
    """One process of a topology. ``role``: master, replica, sentinel or haproxy (as started; a failover
    changes who is master, ask the topology). ``host``/``port`` is where it listens."""

    name: str
    role: str
    host: str
    port: int
    pid: int
    dir: str
    create_time: float = field(default=0.0, repr=False, compare=False)
    argv: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def process_id(self) -> ProcessId:
        return ProcessId(self.pid, self.create_time)

    def alive(self) -> bool:
        return self.process_id.alive()


class LabState(Protocol):
    """What a launcher reads and records in the topology it starts nodes for (``lab.Topology``)."""

    name: str
    dir: str
    binary: RedisBinary
    options: dict
    target: Target | None

    def _add_node(self, node: Node, proc: subprocess.Popen | None = None) -> None: ...

    def _forget_node(self, name: str) -> None: ...

    def node(self, which: Node | str) -> Node: ...
