"""Go-live checklists (analysis.golive) and their report section: every option carries the items a go-live needs,
the figures agree with the sizing, the chosen nodes are the catalog's smallest fits (read from the CSV here)."""

import csv
import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import golive, sizing
from analysis.catalog import DEFAULT_PATH, GIB, load_catalog
from analysis.report.golive import golive_section
from analysis.report.runset import Context, RunSet
from analysis.targets import load_target

EXAMPLE = "data/targets/example.yaml"


@pytest.fixture(scope="module")
def example():
    target = load_target(EXAMPLE)
    rec = sizing.size(target)  # no runs: documented defaults, fast
    return target, rec, golive.checklists(rec, target)


def _by(lists):
    return {cl.option: cl for cl in lists}


def _csv_rows():
    with Path(DEFAULT_PATH).open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_usable_option_has_every_item_and_the_cluster_only_service_is_refused(example):
    _t, _rec, lists = example
    by = _by(lists)
    services = {r["service"] for r in _csv_rows()}
    expected = {"self-managed", "enterprise"} | (services & set(golive.MANAGED))
    assert expected <= set(by)
    for option in expected:
        cl = by[option]
        assert cl.usable
        missing = set(golive.TOPICS) - set(cl.topics())
        assert not missing, f"{option} lacks {missing}"
        for it in cl.items:
            assert it.source.strip(), f"{option}: {it.title} has no source"
            assert it.source.startswith(("http", golive.DERIVED, "rcap reference", "Nuxeo compatibility")), it.source
    cluster = by["memorystore-cluster"]
    assert not cluster.usable and "CROSSSLOT" in cluster.item("cluster").action


def test_managed_eviction_items_say_how_to_set_noeviction(example):
    by = _by(example[2])
    how = {"elasticache": "parameter group", "elasticache-valkey": "parameter group",
           "cache-for-redis": "Advanced settings", "memorystore-redis": "maxmemory-policy=noeviction"}
    for option, words in how.items():
        action = by[option].item("eviction").action
        assert "noeviction" in action and words in action
        assert "volatile-lru" in action  # the default they override, read on the vendor page cited
        assert by[option].item("eviction").source.count("https://") >= 2  # Nuxeo's page + the vendor's


def test_min_replicas_to_write_only_with_two_replicas():
    target = load_target(EXAMPLE)

    def redis_conf(t, rec):
        cl = _by(golive.checklists(rec, t))["self-managed"]
        conf = next(it for it in cl.items if it.title.startswith("redis.conf")).snippet
        return [line for line in conf.splitlines() if line.strip() and not line.startswith("#")]

    rec = sizing.size(target)
    assert rec.topology["data_nodes"] == 3  # the HA plan: 1 master + 2 replicas, whatever the target asked
    assert "min-replicas-to-write 1" in redis_conf(target, rec)
    two_nodes = dataclasses.replace(rec, topology={**rec.topology, "data_nodes": 2})  # 1 replica
    assert not any(line.startswith("min-replicas-to-write") for line in redis_conf(target, two_nodes))


def test_redis_conf_and_sentinel_lines_follow_the_sizing(example):
    _t, rec, lists = example
    cl = _by(lists)["self-managed"]
    conf = next(it for it in cl.items if it.title.startswith("redis.conf")).snippet
    mb = int(re.search(r"^maxmemory (\d+)mb", conf, re.M).group(1))
    assert mb * 1024 ** 2 <= rec.memory["maxmemory_bytes"] < (mb + 1) * 1024 ** 2
    assert "maxmemory-policy noeviction" in conf
    if rec.disk["persistence"] == "aof":
        assert "appendonly yes" in conf and "appendfsync everysec" in conf
    else:
        assert re.search(r"^save \d", conf, re.M)
    sentinel = next(it for it in cl.items if it.title.startswith("sentinel.conf")).snippet
    assert re.search(rf"sentinel monitor mymaster \S+ 6379 {rec.topology['quorum']}$", sentinel, re.M)
    assert "down-after-milliseconds" in sentinel
    nuxeo = next(it for it in cl.items if it.title.startswith("nuxeo.conf")).snippet
    assert "nuxeo.redis.ha.enabled=true" in nuxeo
    assert nuxeo.count("<sentinel-") == rec.topology["sentinels"]
    os_item = next(it for it in cl.items if it.title.startswith("OS settings"))
    assert "vm.overcommit_memory=1" in os_item.snippet and "transparent_hugepage" in os_item.snippet


def test_chosen_vm_is_the_smallest_catalog_row_that_holds_the_node(example):
    _t, rec, lists = example
    node_ram = rec.memory["node_ram_bytes"]
    cl = _by(lists)["self-managed"]
    chosen = {(i["provider"], i["service"]): i for i in cl.instances}
    vms = [r for r in _csv_rows() if not r["usable_memory_fraction"].strip()]
    for key in {(r["provider"], r["service"]) for r in vms}:
        fits = [r for r in vms if (r["provider"], r["service"]) == key and float(r["memory_gib"]) * GIB >= node_ram]
        smallest = min(float(r["memory_gib"]) for r in fits)
        assert chosen[key]["memory_gib"] == smallest, key
        bigger = [float(r["memory_gib"]) for r in vms if (r["provider"], r["service"]) == key]
        assert smallest < max(bigger)  # right-sized: the catalog has larger rows it did not pick


def test_azure_with_persistence_picks_a_premium_size(example):
    _t, rec, lists = example
    assert rec.disk["persistence"] != "none"
    az = _by(lists)["cache-for-redis"]
    assert az.instances and all(i["name"].startswith("Premium") for i in az.instances)
    assert "Basic and Standard" in az.item("persistence").action


def test_maxmemory_for_the_ram_bought_respects_the_node_model(example):
    _t, rec, lists = example
    mm = golive.MemoryModel.of(rec)
    assert mm.node_ram_bytes == pytest.approx(rec.memory["node_ram_bytes"])
    # the sized maxmemory on exactly the sized RAM comes back unchanged
    assert mm.maxmemory_for_ram(rec.memory["node_ram_bytes"]) == pytest.approx(rec.memory["maxmemory_bytes"])
    cl = _by(lists)["self-managed"]
    for inst in cl.instances:
        allowed = cl.maxmemory_bytes[inst["name"]]
        assert allowed >= rec.memory["maxmemory_bytes"]
        extra = mm.extra_works(allowed)
        bpw = rec.mass_operation["bytes_per_work"]
        assert extra == pytest.approx((allowed - rec.memory["maxmemory_bytes"]) * (1 - mm.headroom) / bpw)
        assert f"{extra:,.0f}" in cl.item("maxmemory").action


def test_alert_thresholds_agree_with_the_sizing(example):
    _t, rec, lists = example
    cl = _by(lists)["self-managed"]
    alerts = {it.title: it.action for it in cl.items if it.topic == "monitoring"}
    headroom = rec.memory["node_parts"]["headroom"] / rec.memory["maxmemory_bytes"]
    assert f"{100 * (1 - headroom):.0f} % of maxmemory" in alerts["Alert: memory"]
    pending = rec.traffic["steady_pending_works"] + rec.mass_operation["peak_backlog"]
    assert f"above {int(-(-pending // 1)):,}" in alerts["Alert: pending works"]
    assert f"{rec.cpu['max_utilization']:.2f} CPU-s/s" in alerts["Alert: main-thread CPU"]
    assert "used_cpu_sys_main_thread" in alerts["Alert: main-thread CPU"]
    assert "evicted_keys" in alerts["Alert: evictions and OOM"]
    assert f"connected_slaves:{rec.topology['data_nodes'] - 1}" in alerts["Alert: replication"]


def test_versions_flag_the_target_server_outside_nuxeo_range(example):
    _t, _rec, lists = example
    by = _by(lists)
    assert "outside" in by["self-managed"].item("versions").action  # redis-7.2 vs LTS 2021's 2.8–6.0
    assert "pick Redis 6.0" in by["elasticache"].item("versions").action
    assert "pick Redis 5.0" in by["memorystore-redis"].item("versions").action  # its 6.x is 6.2, not 6.0
    assert "Valkey" in by["elasticache-valkey"].item("versions").action


def test_prices_only_with_date_and_source():
    cat = load_catalog()
    priced = [it for it in cat if it.price_usd_per_hour is not None]
    for it in priced:
        assert it.price_date and it.price_region and it.price_source.startswith("https://")
    rows = _csv_rows()
    assert all(r["price_usd_per_hour"].strip() == "" or r["price_date"].strip() for r in rows)


def _section_text(sec) -> str:
    out = []
    for item in sec.items:
        out.append(item.to_csv() if isinstance(item, pd.DataFrame) else str(item))
    return "\n".join(out)


def test_rendered_section_has_no_template_artefacts(example):
    target, rec, lists = example
    ctx = Context(Path(EXAMPLE), target, RunSet(), target.deployment.topology)
    sec = golive_section(ctx, rec)
    text = _section_text(sec)
    assert len(sec.tables) == len(lists)
    assert not re.search(r"\bnan\b", text, re.I)
    assert "(s)" not in text
    for a, b in re.findall(r"(\d[\d,.]*)\s*[–-]\s*(\d[\d,.]*)", text):
        assert a != b, f"one-value range {a}–{b}"
    assert "no public price recorded" in text
    assert set(sec.values["golive"]) == {cl.option for cl in lists}
