"""The pure facts about each Redis topology rcap knows, one entry per topology (no I/O, no Redis client).

``loadgen.topology.registry`` adds each topology's builder and client router on top of these facts;
``analysis`` reads them directly (it never imports ``loadgen``). Adding a topology means one entry here
plus its builder module under ``loadgen/topology/`` (see docs/architecture.md, "Topology registry").
"""

from __future__ import annotations

from dataclasses import dataclass

EXTERNAL = "external"
"""``Target.topology`` of a deployment rcap did not start (reached by URL only)."""


@dataclass(frozen=True)
class TopologyFacts:
    """What is true of a topology whoever looks at it.

    ``connect_as`` is how a client reaches it: the ``Target.kind`` its URL parses to, which picks the
    client router (``standalone``: one fixed endpoint, ``sentinel``: ask the sentinels for the master,
    ``cluster``: route by key slot). ``schemes`` are its URL schemes ``(plain, TLS)``, plain None when
    it serves TLS only. ``data_nodes``/``sentinels`` count what rcap's lab starts; ``proxied``: clients
    reach the master through a proxy endpoint, not the nodes; ``sharded``: keys spread over several
    masters; ``self_managed``: sized on VMs only (no cloud-managed instance types). ``sizing`` names the
    rule ``analysis.sizing`` applies (None: not sized, what-if only).
    """

    name: str
    connect_as: str
    schemes: tuple[str | None, str]
    ha: bool
    data_nodes: int
    sentinels: int
    nuxeo: bool
    sizing: str | None
    proxied: bool = False
    sharded: bool = False
    self_managed: bool = False
    password_required: bool = False
    summary: str = ""


TOPOLOGIES: dict[str, TopologyFacts] = {f.name: f for f in (
    TopologyFacts("standalone", "standalone", ("redis", "rediss"), ha=False, data_nodes=1, sentinels=0,
                  nuxeo=True, sizing="single-node", summary="one redis-server"),
    TopologyFacts("sentinel", "sentinel", ("redis+sentinel", "rediss+sentinel"), ha=True, data_nodes=3,
                  sentinels=3, nuxeo=True, sizing="sentinel", summary="master + 2 replicas under 3 sentinels"),
    TopologyFacts("enterprise", "standalone", (None, "rediss"), ha=True, data_nodes=2, sentinels=3, nuxeo=True,
                  sizing="enterprise", proxied=True, self_managed=True, password_required=True,
                  summary="Redis Enterprise stand-in: master + replica, 3 sentinels, HAProxy TLS endpoint"),
    TopologyFacts("cluster", "cluster", ("redis+cluster", "rediss+cluster"), ha=True, data_nodes=6, sentinels=0,
                  nuxeo=False, sizing=None, sharded=True,
                  summary="OSS Redis Cluster, 3 masters + 3 replicas (what-if only)"),
)}

NAMES: tuple[str, ...] = tuple(TOPOLOGIES)
"""Every topology rcap can start, in registry order."""

CONNECTION_KINDS: tuple[str, ...] = tuple(dict.fromkeys(f.connect_as for f in TOPOLOGIES.values()))
"""The values of ``Target.kind``: standalone, sentinel, cluster (one client router each)."""

SHARDED_KINDS: frozenset[str] = frozenset(f.connect_as for f in TOPOLOGIES.values() if f.sharded)
"""``Target.kind`` values whose keys spread over hash slots (multi-key commands need a hash tag)."""

URL_SCHEMES: dict[str, tuple[str, bool]] = {
    scheme: (f.connect_as, tls) for f in TOPOLOGIES.values() if f.connect_as == f.name
    for scheme, tls in zip(f.schemes, (False, True))}
"""URL scheme → ``(Target.kind, TLS?)``; a topology reached as another one (enterprise) adds none."""


def facts(name: str) -> TopologyFacts:
    """The entry of topology ``name`` (``KeyError`` if rcap has no such topology)."""
    return TOPOLOGIES[name]


def with_sentinels() -> tuple[str, ...]:
    """Topologies whose master is chosen by sentinels (their events can be watched): sentinel, enterprise."""
    return tuple(f.name for f in TOPOLOGIES.values() if f.sentinels)


def names(**where) -> tuple[str, ...]:
    """Topology names whose facts equal ``where``: ``names(nuxeo=True)``, ``names(sentinels=3)``…
    ``sized=True`` selects those with a sizing rule."""
    sized = where.pop("sized", None)
    return tuple(f.name for f in TOPOLOGIES.values()
                 if all(getattr(f, k) == v for k, v in where.items())
                 and (sized is None or (f.sizing is not None) == sized))
