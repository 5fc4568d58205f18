"""Work ids, payload sizes and shapes, and the default queues (no Redis needed)."""

from __future__ import annotations

import random
import re
import statistics
import zlib

import pytest

from rcapcore.errors import BadInput
from rcapcore.nuxeo.payloads import (JAVA_MAGIC, WORK_TYPES, PayloadFactory, nanotime_work_id,
                                    picture_views_work_id, work_id_from_payload, work_type)
from rcapcore.nuxeo.queues import (POLL_INTERVAL_MS, POLL_JITTER_MS, default_queues, idle_poll_interval_s,
                                  polling_threads, queue_spec)


def test_nanotime_ids_look_like_abstract_work_ids():
    rng = random.Random(1)
    ids = [nanotime_work_id(rng) for _ in range(1000)]
    assert all(re.fullmatch(r"\d+\.\d+", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert 15 <= statistics.median(len(i) for i in ids) <= 30


def test_deterministic_ids_collapse():
    assert picture_views_work_id("d" * 36) == picture_views_work_id("d" * 36)
    assert len(picture_views_work_id("0" * 36)) == 69  # spec: ≈69 chars with file:content


@pytest.mark.parametrize("name", list(WORK_TYPES))
def test_payload_sizes_follow_the_work_type(name):
    wtype = WORK_TYPES[name]
    factory = PayloadFactory(seed=3)
    sizes = [len(factory.work(wtype)[1]) for _ in range(300)]
    mean = statistics.mean(sizes)
    assert abs(mean - wtype.mean_size_bytes()) < 0.05 * wtype.mean_size_bytes()


def test_payload_looks_like_java_serialization_and_carries_the_id():
    factory = PayloadFactory(seed=4)
    wid, payload = factory.work("fulltextExtractor")
    assert payload.startswith(JAVA_MAGIC)
    assert b"org.nuxeo.ecm.core.work.FulltextExtractorWork" in payload[:80]
    assert work_id_from_payload(payload) == wid
    assert work_id_from_payload(b"not a work") is None
    # not trivially compressible (zeros would shrink to ~1%)
    assert len(zlib.compress(payload)) > 0.5 * len(payload)


def test_payloads_are_reproducible_from_the_seed():
    a, b = PayloadFactory(seed=5), PayloadFactory(seed=5)
    assert [a.payload("1.2", 1100) for _ in range(3)] == [b.payload("1.2", 1100) for _ in range(3)]
    assert PayloadFactory(seed=6).payload("1.2", 1100) != PayloadFactory(seed=5).payload("1.2", 1100)
    assert len(a.payload("1.2", 20_700)) == 20_700
    assert len(a.payload("1.2", 3_000_000)) == 3_000_000  # larger than the filler pool


def test_unknown_work_type_is_bad_input():
    with pytest.raises(BadInput, match="unknown work type"):
        work_type("nope")


def test_default_queues_and_polling():
    queues = default_queues()
    assert queue_spec("default").threads == 4 and queue_spec("pictureViewsGeneration").threads == 2
    assert not queue_spec("common", nuxeo_version="10.10").processing and queue_spec("common").processing
    assert queue_spec("myQueue").threads == 4  # custom queue: Nuxeo's default maxThreads
    assert polling_threads(queues) == 38  # spec Corrections 1: a 2021 node (the default) polls ≈38/s
    assert polling_threads(default_queues(nuxeo_version="10.10")) == 28
    assert polling_threads(default_queues(addons=True)) > polling_threads(queues)
    rng = random.Random(7)
    waits = [idle_poll_interval_s(rng) for _ in range(2000)]
    lo, hi = (POLL_INTERVAL_MS - POLL_JITTER_MS) / 1000, (POLL_INTERVAL_MS + POLL_JITTER_MS) / 1000
    assert lo <= min(waits) and max(waits) <= hi
    assert abs(statistics.mean(waits) - POLL_INTERVAL_MS / 1000) < 0.02
