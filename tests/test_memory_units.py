"""Unit checks of the memory model's building blocks against published values (no server)."""

import pytest

from analysis import memory as m
from rcapcore.errors import BadInput

Q8 = m.RedisLayout.for_version("7.2", m.Allocator("jemalloc", 3))


def test_jemalloc_size_classes():
    a8, a16 = m.Allocator("jemalloc", 3), m.Allocator("jemalloc", 4)
    # lg-quantum 3: 8,16,24,…,64 then 4 classes per doubling (facts §4.1 / §4.5)
    assert [a8.usable_bytes(n) for n in (1, 9, 17, 33, 57, 65, 81, 129, 161, 1106)] == \
           [8, 16, 24, 40, 64, 80, 96, 160, 192, 1280]
    assert [a16.usable_bytes(n) for n in (5, 9, 17, 24, 33, 65)] == [8, 16, 32, 32, 48, 80]
    assert m.Allocator("libc").usable_bytes(5) == 24 and m.Allocator("libc").usable_bytes(25) == 40


def test_documented_memory_usage_examples():
    # redis-doc commands/memory-usage.md (7.2, jemalloc lg-quantum 3)
    assert m.string_key("foo", "bar", Q8).reported_bytes == 56
    assert m.string_key("", "", Q8).reported_bytes == 56
    assert m.string_key("foo2", "mybar", Q8).reported_bytes == 64
    assert m.string_key("foo", "x" * 100, Q8).reported_bytes == 160


def test_sds_headers_and_listpack_entries():
    assert [m.sds_request_bytes(n) for n in (0, 31, 32, 255, 256, 65536)] == [4, 33, 36, 259, 262, 65546]
    assert m.listpack_entry_bytes(b"5") == 2 and m.listpack_entry_bytes(b"1000") == 3
    assert m.listpack_entry_bytes(b"a" * 63) == 65 and m.listpack_entry_bytes(b"a" * 64) == 67
    assert m.as_redis_int(b"007") is None and m.as_redis_int(b"-12") == -12


def test_bucket_arrays_move_in_steps():
    assert m.dict_tables(4) == (4, 0) and m.dict_tables(5)[0] == 8
    assert m.dict_tables(1 << 20)[0] == 1 << 20 and m.dict_tables((1 << 20) + 1)[0] == 1 << 21
    # just after a doubling the old table is still alive (rehash moves one bucket per insert)
    assert m.dict_tables((1 << 16) + 10, 1) == (1 << 17, 1 << 16)
    assert m.dict_tables(1 << 17, 1) == (1 << 17, 0)
    step = (m.pending_works_bytes(600_000, m.WorkShape(1100), Q8)
            - m.pending_works_bytes(520_000, m.WorkShape(1100), Q8))
    assert step > 80_000 * 1100  # more than the payloads: the bucket arrays doubled


def test_calibration_recovers_a_scale_and_bounds_its_error():
    layout = Q8
    obs = [m.MemoryObservation(n, p, 1.03 * m.pending_works_bytes(n, m.WorkShape(p), layout))
           for n, p in ((2000, 1000), (5000, 1000), (5000, 3000), (10000, 2000))]
    fit = m.calibrate(obs, layout)
    assert fit.scale == pytest.approx(1.03, rel=1e-9)
    pred = fit.predict(100_000, 1500)
    truth = 1.03 * m.pending_works_bytes(100_000, m.WorkShape(1500), layout)
    assert pred["low"] <= truth <= pred["high"]


def test_linear_fit_interval_contains_truth():
    x = [1, 2, 3, 4, 5, 6]
    y = [10.1, 19.8, 30.2, 39.9, 50.1, 60.0]
    f = m.fit_linear(x, y)
    assert f.slope_ci[0] < 10 < f.slope_ci[1]
    y7, lo, hi = f.predict(7)
    assert lo < 70 < hi
    with pytest.raises(BadInput):
        m.fit_linear([1, 1], [2, 3])


def test_recommendation_adds_cow_only_when_forking():
    base = m.NodeOverheads(persistence="none", replicas=0, os_reserve_bytes=0, headroom=0.0,
                           normal_clients=0, repl_backlog_bytes=0, fragmentation_ratio=1.0)
    r0 = m.recommend_memory(10 * m.GIB, base)
    assert r0.maxmemory_bytes == 10 * m.GIB and r0.node_ram_bytes == 10 * m.GIB
    from dataclasses import replace
    r1 = m.recommend_memory(10 * m.GIB, replace(base, persistence="rdb", cow_write_fraction=1.0))
    assert r1.node_ram_bytes == 20 * m.GIB  # "up to 2x" while the child lives
    with pytest.raises(BadInput):
        m.RedisLayout.for_version("5.0")
