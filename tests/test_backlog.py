import pytest

from analysis.backlog import BacklogInput, mass_operation, simulate
from loadgen.errors import BadInput


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
