"""Shared pytest fixtures: real redis-server processes on loopback, torn down whatever happens.

Fixtures (all topologies live under one temporary ``.rcap`` folder per test session, and are *owned* by
the test process, so even a killed pytest leaves no redis-server behind):

``redis_binary`` (session)
    The :class:`loadgen.topology.RedisBinary` in use (version, allocator, where it was found).
``rcap_base_dir`` (session)
    The folder holding the session's topologies; pass it as ``base_dir=`` to ``topology.status``/``down``.
``standalone`` (session)
    A running standalone :class:`loadgen.topology.Topology`: no password, no TLS. Shared by the whole
    session: do not stop or reconfigure it (use ``topology_factory`` for that).
``standalone_target`` (session)
    Its :class:`loadgen.topology.Target` (``redis://127.0.0.1:<port>``).
``standalone_client`` (function)
    A redis-py client to it; the database is flushed after the test (rcap started this server, so
    FLUSHALL is allowed here; never on other targets).
``topology_factory`` (function)
    ``topology_factory(kind, **opts)`` starts a topology with ``loadgen.topology.up`` options (``tls``,
    ``password``, ``down_after_ms``, ``bind_hosts`` …) and stops every one it started after the test.

Example::

    def test_failover(topology_factory):
        topo = topology_factory("sentinel", down_after_ms=1000)
        client = topo.client()
"""

from __future__ import annotations

import pytest

from loadgen import topology


@pytest.fixture(scope="session")
def redis_binary():
    return topology.find_redis_server(warn=False)


@pytest.fixture(scope="session")
def rcap_base_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("rcap")
    yield base
    topology.down_all(base)


@pytest.fixture(scope="session")
def standalone(rcap_base_dir):
    with topology.running("standalone", name="session-standalone", base_dir=rcap_base_dir) as topo:
        yield topo


@pytest.fixture(scope="session")
def standalone_target(standalone):
    return standalone.target


@pytest.fixture
def standalone_client(standalone):
    client = standalone.client()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def topology_factory(rcap_base_dir):
    started: list[topology.Topology] = []

    def factory(kind: str, **opts) -> topology.Topology:
        opts.setdefault("base_dir", rcap_base_dir)
        topo = topology.up(kind, **opts)
        started.append(topo)
        return topo

    yield factory
    for topo in reversed(started):
        topo.down()
