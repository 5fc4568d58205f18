"""Business load → Redis mix (spec §7) on known inputs (no Redis needed)."""

from __future__ import annotations

import pytest

from rcapcore.errors import BadInput
from rcapcore.nuxeo.mix import BusinessLoad, WorkShare, batch_upload_ops, derive_mix
from rcapcore.nuxeo.payloads import work_type
from rcapcore.nuxeo.payloads import VCS_EXTRA_DOC_BYTES, VCS_ONE_DOC_BYTES
from rcapcore.nuxeo.queues import polling_threads


def test_four_nodes_200_docs_per_s():
    load = BusinessLoad(nodes=4, docs_per_s=200, works_per_doc=3, uploads_per_s=5, cache_invalidations_per_s=20)
    mix = derive_mix(load)
    ops = mix.ops_per_s_by_name()
    assert mix.works_per_s == pytest.approx(200 * 3)
    for name in ("EVALSHA scheduling-work", "EVALSHA running-work", "EVALSHA completed-work"):
        assert ops[name] == pytest.approx(600)
    indexing = [q for q in mix.queues if q.work_type == "indexing"]
    assert indexing[0].queue_id == "elasticSearchIndexing" and indexing[0].works_per_s == pytest.approx(200)
    assert indexing[0].payload_bytes == work_type("indexing").size_bytes
    # idle polling: every thread of every node, minus the threads busy processing works
    busy_per_node = 600 / 4 * load.work_processing_ms / 1000
    assert mix.idle_pops_per_s == pytest.approx(4 * (polling_threads() - busy_per_node))
    # worker re-polls (Corrections 3): between 0 and 1 extra pop-work per work
    assert 0 < mix.repoll_pops_per_s < 600
    assert ops["EVALSHA pop-work"] == pytest.approx(600 + mix.idle_pops_per_s + mix.repoll_pops_per_s)
    assert mix.evalsha_per_work == pytest.approx(4 + mix.repoll_pops_per_s / 600)
    vcs = {c.channel: c for c in mix.channels}["rcap:vcs:default"]
    assert vcs.messages_per_s == 200 and vcs.deliveries_per_s == 800
    assert vcs.message_bytes == 2 + VCS_ONE_DOC_BYTES
    assert ops["PUBLISH cacheinval"] == 20
    assert {c.kind for c in mix.channels} == {"vcs", "cacheinval"}
    assert mix.deliveries_per_s == 4 * mix.publishes_per_s
    upload_ops = sum(batch_upload_ops().values())
    assert upload_ops == 74  # spec Corrections 2
    kv_total = sum(k.ops_per_s for k in mix.kv)
    assert kv_total == pytest.approx(5 * upload_ops + 200 * load.lock_checks_per_doc)
    assert not mix.notes
    payload_in = sum(2 * q.payload_bytes * q.works_per_s for q in mix.queues) + sum(
        c.message_bytes * c.messages_per_s for c in mix.channels)
    assert mix.payload_bytes_to_redis_per_s == pytest.approx(payload_in)
    assert mix.payload_bytes_from_redis_per_s > sum(q.payload_bytes * q.works_per_s for q in mix.queues)


@pytest.mark.parametrize("version, per_node", [("10.10", 28), ("2021", 38)])  # spec Corrections 1
def test_idle_cluster_polls_per_version(version, per_node):
    mix = derive_mix(BusinessLoad(nodes=3, nuxeo_version=version))
    assert mix.ops_per_s == pytest.approx(3 * per_node)
    assert mix.ops_per_s_by_name() == {"EVALSHA pop-work": mix.idle_pops_per_s}


def test_repolls_grow_from_none_to_one_per_work_with_the_load():
    from rcapcore.nuxeo.mix import repoll_pops_per_work

    assert repoll_pops_per_work(0) == 0
    assert 0 < repoll_pops_per_work(0.1) < repoll_pops_per_work(1) < repoll_pops_per_work(10) < 1
    fixed = derive_mix(BusinessLoad(nodes=1, docs_per_s=10, works_per_doc=1, repoll_pops_per_work=0.5))
    assert fixed.repoll_pops_per_s == pytest.approx(5)


def test_transactions_group_documents():
    mix = derive_mix(BusinessLoad(nodes=2, docs_per_s=100, docs_per_transaction=10, works_per_doc=1))
    vcs = mix.channels[0]
    assert vcs.messages_per_s == pytest.approx(10)
    assert vcs.message_bytes == 2 + VCS_ONE_DOC_BYTES + 9 * VCS_EXTRA_DOC_BYTES
    idx = mix.queues[0]
    assert idx.works_per_s == pytest.approx(10)  # one IndexingWorker per transaction
    assert idx.payload_bytes == work_type("indexing").mean_size_bytes(extra_cmds=9)


def test_dbs_publishes_updates_only():
    mix = derive_mix(BusinessLoad(nodes=2, docs_per_s=100, storage="dbs", update_fraction=0.25))
    (dbs,) = mix.channels
    assert dbs.channel == "rcap:dbs:default" and dbs.messages_per_s == pytest.approx(25)
    assert dbs.message_bytes == 2 + 37


def test_saturated_queue_is_flagged():
    load = BusinessLoad(nodes=1, docs_per_s=100, work_processing_ms=500.0,
                        work_shares=(WorkShare("renditionBuilder", 1.0, "fulltextExtractor"),))
    mix = derive_mix(load)
    (q,) = mix.queues
    assert q.saturated and q.threads_per_node == 2
    assert mix.notes and "renditionBuilder" in mix.notes[0]


@pytest.mark.parametrize("kwargs", [{"nodes": 0}, {"docs_per_s": -1}, {"storage": "mongo"},
                                    {"update_fraction": 2}])
def test_nonsense_inputs_are_bad_input(kwargs):
    with pytest.raises(BadInput):
        BusinessLoad(**kwargs)
