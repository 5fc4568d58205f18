import pytest

from analysis.backlog import BacklogInput, mass_operation, simulate
from rcapcore.errors import BadInput


def test_burst_then_drain_known_answer():
    # λ = 1000/s for 600 s then 0; μ = 4 threads × 2 nodes / 0.02 s = 400/s
    r = simulate(BacklogInput(((0, 1000), (600, 0)), 4, 2, 0.02, bytes_per_work=1500, base_bytes=1e6))
    assert r.service_rate_per_s == pytest.approx(400)
    assert r.peak_backlog == pytest.approx(600 * 600)
    assert r.peak_t_s == pytest.approx(600)
    assert r.drained_t_s == pytest.approx(600 + 360_000 / 400)
    assert r.time_to_drain_s == pytest.approx(900)
    assert r.peak_memory_bytes == pytest.approx(1e6 + 1500 * (360_000 + 8))
    assert r.at(300)["backlog"] == pytest.approx(180_000)
    assert r.oom_t_s is None and r.lost_works == 0


def test_maxmemory_is_reached_and_works_are_lost():
    # cap: (1e6 + 1500·(100_000 + 8) − 1e6) / 1500 − 8 = 100_000 works of backlog
    r = simulate(BacklogInput(((0, 1000), (600, 0)), 4, 2, 0.02, bytes_per_work=1500, base_bytes=1e6,
                              maxmemory_bytes=1e6 + 1500 * 100_008))
    assert r.oom_t_s == pytest.approx(100_000 / 600)
    assert r.peak_backlog == pytest.approx(100_000)
    assert r.lost_works == pytest.approx(600 * (600 - 100_000 / 600))
    assert r.drained_t_s == pytest.approx(600 + 100_000 / 400)
    assert any("OOM" in n for n in r.notes)


def test_underloaded_queue_never_builds_a_backlog():
    r = simulate(BacklogInput(((0, 100),), 4, 1, 0.01, bytes_per_work=1000, horizon_s=60))
    assert r.peak_backlog == 0 and r.drained_t_s is None
    assert r.peak_memory_bytes == pytest.approx(1000 * 100 * 0.01)  # Little: λ·S works running


def test_mass_operation_phases_and_bad_input():
    phases = mass_operation(10_000_000, 500, 5000, start_s=60, background_works_per_s=20)
    assert phases == ((0.0, 20), (60, 30.0), (2060.0, 20))
    with pytest.raises(BadInput):
        mass_operation(0, 500, 5000)
    with pytest.raises(BadInput):
        BacklogInput(((10, 1), (0, 1)), 1, 1, 1, 1)


def test_fluid_model_follows_a_recorded_mass_operation():
    """The committed reference mass-operation run (rcap suite): with its achieved scheduling and
    consumption rates, the fluid model's backlog matches the recorded HLEN of the state hash within 10 %."""
    from pathlib import Path

    from analysis.runs import load_run

    found = sorted((Path(__file__).resolve().parents[1] / "data" / "reference").glob("*-mass-operation-*"))
    if not found:
        pytest.skip("no reference mass-operation run committed")
    run = load_run(found[-1])
    wl = run.workload.dropna(subset=["work_backlog"])
    works = run.counters["works"]
    t_end = float(wl["elapsed_s"].iloc[-1])
    lam = works["scheduled"] / t_end
    threads = run.manifest["scenario"]["params"]["threads"]
    mu = works["completed"] / t_end
    r = simulate(BacklogInput(((0, lam),), threads, 1, threads / mu, bytes_per_work=1, horizon_s=t_end))
    predicted = r.at(t_end)["backlog"] + threads  # HLEN state counts running works too
    measured = float(wl["work_backlog"].iloc[-1])
    assert abs(predicted - measured) <= 0.10 * measured, (predicted, measured)


def test_scheduling_is_capped_per_queue_per_node():
    from analysis.backlog import scheduling_cap_per_s

    # one round trip of 0.5 ms at a time per queue per node: 2 nodes, 1 queue → 4,000 works/s
    assert scheduling_cap_per_s(2, 1, 0.0005) == pytest.approx(4000)
    capped = mass_operation(1_000_000, 100, 1_000_000, max_works_per_s=4000)  # asks for 10,000 works/s
    assert capped == ((0.0, 4000), (1_000_000 / 400_000, 0))  # same works, arriving over 2.5 s
    assert mass_operation(1_000_000, 100, 100_000, max_works_per_s=4000) == ((0.0, 1000.0), (10.0, 0))
    with pytest.raises(BadInput):
        scheduling_cap_per_s(0, 1, 0.001)


def test_live_indexing_shares_the_queue_and_waits_behind_the_buckets():
    from analysis.backlog import live_lag

    # buckets: 100/s for 100 s, 2 s each on 4 threads (μ = 2/s); live: 10/s of 0.1 s (1 thread busy)
    inp = BacklogInput(((0, 100), (100, 0)), 4, 1, 2.0, bytes_per_work=1, live_works_per_s=10,
                       live_processing_s=0.1)
    assert inp.service_rate_per_s == pytest.approx((4 - 1) / 2.0)  # the live works keep one thread
    lag = live_lag(inp)
    # pending thread-seconds grow at 100·2 + 10·0.1 − 4 = 197 /s for 100 s: a live work then waits 197·100/4 s
    assert lag.max_t_s == pytest.approx(100)
    assert lag.max_lag_s == pytest.approx(197 * 100 / 4)
    # then it drains at 4 − 1 = 3 thread-s/s: lag above 1 s from ≈0 s until 100 + (19,700 − 4)/3 s
    assert lag.lagging_s == pytest.approx(100 + (19_700 - 4) / 3 - 4 / 197, rel=1e-6)
    quiet = live_lag(BacklogInput(((0, 0),), 4, 1, 2.0, bytes_per_work=1, live_works_per_s=10,
                                  live_processing_s=0.1, horizon_s=60))
    assert quiet.max_lag_s == 0 and quiet.lagging_s == 0


def test_shared_queue_matches_a_discrete_fifo_simulation():
    """Buckets and live works in one FIFO list (spec Corrections 10): the fluid split of what is pending
    agrees with a work-by-work simulation of 4 threads taking works in arrival order."""
    import heapq

    import numpy as np

    inp = BacklogInput(((0, 100), (100, 0)), 4, 1, 2.0, bytes_per_work=3.0, live_works_per_s=10,
                       live_processing_s=0.1, live_bytes_per_work=1.0)
    r = simulate(inp)
    arrivals = sorted([(i / 100, 0, 2.0) for i in range(100 * 100)] + [(i / 10, 1, 0.1) for i in range(10 * 7000)])
    free, starts = [0.0] * 4, []
    for t, _kind, service in arrivals:
        start = max(t, heapq.heappop(free))
        heapq.heappush(free, start + service)
        starts.append(start)
    a, s, kind = (np.array(x) for x in zip(*[(t, st, k) for (t, k, _), st in zip(arrivals, starts)]))
    for t in (50, 100, 1000, 4000, 4900):
        waiting = (a <= t) & (s > t)
        for col, k in (("backlog", 0), ("live_pending", 1)):
            assert np.interp(t, r.points["t_s"], r.points[col]) == pytest.approx((waiting & (kind == k)).sum(),
                                                                                  rel=0.01, abs=5)
    # memory counts the waiting live works: 3 bytes per bucket (pending + 4 running) + 1 per live work
    i = int(r.points["memory_bytes"].idxmax())
    row = r.points.loc[i]
    assert row["memory_bytes"] == pytest.approx(3 * (row["backlog"] + 4) + row["live_pending"])
    # the buckets peak when scheduling ends; the live works when the last bucket starts (t = 100 + 19,700 / 4)
    assert r.peak_t_s == 100 and r.peak_backlog == pytest.approx(r.points["backlog"].max())
    assert r.peak_live_waiting == pytest.approx(10 * 19_700 / 4)
    assert r.drained_t_s == pytest.approx(100 + (19_700 - 0) / (4 - 1))  # the whole queue empty
    # without live works the queue is the plain fluid model
    alone = simulate(BacklogInput(((0, 100), (100, 0)), 4, 1, 2.0, bytes_per_work=3.0))
    assert alone.peak_backlog == pytest.approx((100 - 2) * 100)
