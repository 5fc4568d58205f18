"""The topology registry: one entry per topology, its facts (``rcapcore.topologies``) plus its builder
and its client router. Every "which topology?" question in ``loadgen`` goes through here.

Sits above the builders and below ``lab`` (which starts a topology by ``get(kind).build``); see
``loadgen.topology.model`` for the import order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rcapcore.errors import BadInput
import loadgen.topology.cluster as cluster  # submodules by name: the package's __init__ imports this module
import loadgen.topology.enterprise as enterprise
import loadgen.topology.sentinel as sentinel
import loadgen.topology.standalone as standalone
from rcapcore.topologies import EXTERNAL, NAMES, TopologyFacts, names
from rcapcore.topologies import facts as _facts

__all__ = ["EXTERNAL", "NAMES", "TopologyType", "facts", "get", "names"]


@dataclass(frozen=True)
class TopologyType:
    """``build(launcher, *, tls, down_after_ms, failover_timeout_ms, timeout_s)`` starts its nodes and
    returns its :class:`~loadgen.topology.targets.Target`; ``router`` is the client router's name
    (``loadgen.clients.ROUTERS``), i.e. the ``Target.kind`` of its URL."""

    facts: TopologyFacts
    build: Callable

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def router(self) -> str:
        return self.facts.connect_as


REGISTRY: dict[str, TopologyType] = {m.NAME: TopologyType(_facts(m.NAME), m.build)
                                     for m in (standalone, sentinel, enterprise, cluster)}
assert tuple(REGISTRY) == NAMES, "every topology of rcapcore.topologies has a builder module"


def get(name: str) -> TopologyType:
    """The entry of topology ``name`` (``BadInput`` naming the known ones otherwise)."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise BadInput(f"unknown topology {name!r} (one of {', '.join(NAMES)})") from None


def facts(name: str) -> TopologyFacts:
    """The facts of topology ``name`` (``BadInput`` if unknown)."""
    return get(name).facts

