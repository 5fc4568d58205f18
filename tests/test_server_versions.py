"""Server identity (Redis or Valkey, version, allocator, build) from binaries and INFO; the target's
``deployment.server``; the sizing for the target's server, the note when runs come from another server, the
Nuxeo LTS range flag; io-threads on local topologies. Real servers from the registries, skipped when absent."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from analysis import memory as m
from analysis.runs import load_run
from analysis.sizing import size
from analysis.targets import load_target
from loadgen import topology
from rcapcore.errors import BadInput
from loadgen.recorder.manifest import server as server_settings
from loadgen.topology.binaries import describe, registry_servers

RCAP = str(Path(sys.executable).with_name("rcap"))
REPO = Path(__file__).resolve().parent.parent
SERVERS = {s.name: s for s in registry_servers()}
REFERENCE_MASS_OP = next((REPO / "data/reference").glob("*-mass-operation-*"), None)


def _target(tmp_path, deployment: str) -> Path:
    p = tmp_path / "t.yaml"
    p.write_text("name: t\nredis:\n  works_per_s: 200\n  work_payload_bytes: 2500\n"
                 "mass_operation:\n  documents: 2000000\n  payload_bytes: 2500\n"
                 "deployment:\n  topology: sentinel\n" + deployment)
    return p


@pytest.mark.parametrize("name", list(SERVERS))
def test_identity_from_binary_and_info(name, tmp_path):
    """--version and INFO agree on the family and version; Valkey's frozen redis_version is not used."""
    reg = SERVERS[name]
    if reg.path is None:
        pytest.skip(f"{name} is not installed: {reg.install}")
    binary = describe(reg.path, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with topology.running("standalone", name=f"id-{name}", base_dir=str(tmp_path), redis_server=reg.path) as topo:
            client = topo.client()
            settings, _ = server_settings(client)
            info = client.info("server")
            client.close()
    assert settings["server_family"] == binary.family == ("valkey" if "valkey_version" in info else "redis")
    assert settings["server_version"] == binary.version
    assert settings["server"] == f"{binary.family}-{binary.version}"
    if binary.family == "valkey":
        assert settings["redis_version"] != binary.version  # 7.2.4: compatibility only
    assert binary.allocator == settings["mem_allocator"] or settings["mem_allocator"].startswith(binary.allocator)
    layout = m.RedisLayout.for_version(settings["server_version"], binary.allocator, family=settings["server_family"])
    assert layout.hashtable == (binary.family == "valkey" and tuple(map(int, binary.version.split(".")[:2])) >= (8, 1))


def test_io_threads_reach_the_server(tmp_path, redis_binary):
    with topology.running("standalone", name="io2", base_dir=str(tmp_path), io_threads=2) as topo:
        client = topo.client()
        assert client.config_get("io-threads")["io-threads"] == "2"
        client.close()
    with pytest.raises(BadInput, match="io_threads"):
        topology.up("standalone", base_dir=str(tmp_path), io_threads=0)


def test_bad_server_is_one_line_exit_2(tmp_path):
    p = _target(tmp_path, "  server: valkey-7.0\n")
    r = subprocess.run([RCAP, "size", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "deployment.server" in r.stderr and "valkey-8.x" in r.stderr
    assert f"{p}:10" in r.stderr  # the line of the bad value
    p = _target(tmp_path, "  nuxeo_lts: '2024'\n")
    r = subprocess.run([RCAP, "size", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "deployment.nuxeo_lts" in r.stderr and r.stderr.count("\n") == 1


def test_server_defaults_to_redis_version(tmp_path):
    t = load_target(str(_target(tmp_path, "  redis_version: '7.4'\n")))
    assert t.deployment.server_id == "redis-7.4"
    assert load_target(str(_target(tmp_path, "  server: valkey-8.x\n"))).deployment.server_id == "valkey-8.x"


def test_report_sizes_for_the_target_server(tmp_path):
    """Valkey 8.1's hash tables hold a pending work in fewer bytes than Redis 7.2's dicts (same allocator):
    the sizing follows the target's server."""
    redis = size(load_target(str(_target(tmp_path, "  server: redis-7.2\n  allocator: libc\n"))))
    valkey = size(load_target(str(_target(tmp_path, "  server: valkey-8.x\n  allocator: libc\n"))))
    assert redis.memory["server"] == "redis-7.2" and valkey.memory["server"] == "valkey-8.1"
    assert valkey.memory["dataset_bytes"] < redis.memory["dataset_bytes"]
    assert "Valkey 8.1" in " ".join(valkey.assumptions)


@pytest.mark.skipif(REFERENCE_MASS_OP is None, reason="no reference mass-operation run in data/reference")
def test_runs_on_another_server_are_said_with_the_difference(tmp_path):
    run = load_run(REFERENCE_MASS_OP)
    srv = run.manifest["server"]
    runs_server = f"redis-{'.'.join(srv['redis_version'].split('.')[:2])}"
    same = size(load_target(str(_target(tmp_path, f"  server: {runs_server}\n"))), runs=[run])
    other = size(load_target(str(_target(tmp_path, "  server: valkey-8.x\n"))), runs=[run])
    assert same.memory["runs_on_other_servers"] == []
    note = other.memory["runs_on_other_servers"][0]
    assert note["runs_server"].startswith("Redis 7.0") and note["target_server"].startswith("Valkey 8.1")
    assert note["target_dataset_bytes"] == pytest.approx(other.memory["dataset_bytes"])
    # the same load on the runs' server is what sizing for that server gives
    assert note["runs_dataset_bytes"] == pytest.approx(same.memory["dataset_bytes"], rel=1e-9)
    assert any("runs recorded on Redis 7.0" in a for a in other.assumptions)


@pytest.mark.parametrize("server,lts,flagged", [
    ("redis-7.4", "2021", True), ("valkey-8.x", "2021", True), ("redis-7.2", "", False),
    ("redis-7.2", "2023", True),
])
def test_nuxeo_lts_range_flag(tmp_path, server, lts, flagged):
    extra = f"  nuxeo_lts: '{lts}'\n" if lts else ""
    rec = size(load_target(str(_target(tmp_path, f"  server: {server}\n" + extra))))
    hits = [f for f in rec.flags if "Nuxeo LTS" in f]
    assert bool(hits) == flagged
    if lts == "2021":
        assert "2.8.x to 6.0.x" in hits[0]


def test_catalog_lists_elasticache_for_valkey_next_to_redis_oss():
    from analysis.catalog import load_catalog

    cat = load_catalog()
    oss = {it.name: it for it in cat if it.service == "elasticache"}
    valkey = {it.name: it for it in cat if it.service == "elasticache-valkey"}
    assert valkey and set(valkey) == set(oss)
    for name, it in valkey.items():  # same node types, same 25 % reserved memory
        assert it.memory_bytes == oss[name].memory_bytes and it.usable_memory_fraction == 0.75
        assert "redis-memory-management" in it.source


def test_ceiling_section_says_io_threads_are_not_modelled():
    from analysis.report import runset, throughput

    ctx = runset.context(REPO / "data/targets/example.yaml", [REPO / "data/reference"])
    sec = throughput.throughput_model_section(ctx)
    assert sec.tables  # the reference set has sweeps: the section has its table …
    assert any(isinstance(i, str) and "io-threads" in i and "not modelled" in i for i in sec.items)  # … and the note


def test_valkey_hash_table_growth_and_child_buckets():
    """Growth points from the hash table's rule (≤ 7 entries per bucket, then next_pow2(ceil(n·5/32)) buckets),
    and the expected child buckets against a direct simulation of uniformly hashed entries."""
    import numpy as np

    assert m.hashtable_tables(7) == (1, 0) and m.hashtable_tables(8)[0] == 2
    assert m.hashtable_tables(7 * 4096)[0] == 4096 and m.hashtable_tables(7 * 4096 + 1)[0] == 8192
    rng = np.random.default_rng(17)
    for n, buckets in ((200_000, 32_768), (50_000, 8_192), (3_000, 512)):
        counts = np.bincount(rng.integers(0, buckets, n), minlength=buckets)
        simulated = np.where(counts > 7, np.ceil((counts - 7) / 6), 0).sum()
        assert m.hashtable_child_buckets(n, buckets) == pytest.approx(simulated, rel=0.05)


def test_layout_follows_the_family_not_the_compatibility_version():
    assert m.RedisLayout.for_version("7.2.4", "libc", family="valkey").server == "valkey-7.2"
    assert m.RedisLayout.for_version("8.1.8", "libc", family="valkey").hashtable
    assert not m.RedisLayout.for_version("7.2.4", "libc").hashtable
    assert m.RedisLayout.for_server("valkey-8.x").version == "8.1"
    with pytest.raises(BadInput):
        m.RedisLayout.for_server("valkey-6.2")
