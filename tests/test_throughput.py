import numpy as np
import pandas as pd
import pytest

from analysis import throughput as tp
from loadgen.errors import BadInput


def test_usl_fit_recovers_known_coefficients():
    n = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    x = tp.usl(n, 1000.0, 0.05, 0.0005) * (1 + 0.01 * np.sin(n))  # 1 % wiggle
    fit = tp.fit_usl(n, x)
    assert fit.sigma_ci[0] <= 0.05 <= fit.sigma_ci[1]
    assert fit.kappa_ci[0] <= 0.0005 <= fit.kappa_ci[1]
    assert fit.peak_concurrency == pytest.approx(np.sqrt(0.95 / 0.0005), rel=0.15)
    with pytest.raises(BadInput):
        tp.fit_usl([1, 2], [1, 2])


def test_latency_knee_interpolates():
    assert tp.latency_knee([1000, 2000, 3000], [200, 400, 1200], 800) == pytest.approx(2500)
    assert tp.latency_knee([1000, 2000], [900, 1000], 800) is None
    assert tp.latency_knee([1000, 2000], [100, 200], 800) == 2000


def test_latency_knee_when_the_first_step_misses_the_slo():
    # short steps are noisy: a later step may meet the SLO; the knee then is not "none"
    assert tp.latency_knee([100, 300, 1000], [2500, 1217, 3000], 2000) == pytest.approx(300 + 783 / 1783 * 700)
    assert tp.latency_knee([100, 300], [2500, 2100], 2000) is None


def test_p99_support_and_p99_at_a_rate():
    assert tp.p99_supported(tp.P99_MIN_REQUESTS) and not tp.p99_supported(tp.P99_MIN_REQUESTS - 1)
    assert not tp.p99_supported(None)
    assert tp.p99_at([100, 1000], [200, 1100], 500) == pytest.approx(600)
    assert tp.p99_at([100, 1000], [200, 1100], 5000) is None


def test_utilization_law_on_samples():
    # 10 s, 2 s of CPU, 100k commands, 2500 works → 20 µs/op, 800 µs/work, U = 0.2
    df = pd.DataFrame({"t": [0.0, 10.0], "node": ["m", "m"], "role": ["master", "master"],
                       "used_cpu_sys": [1.0, 2.5], "used_cpu_user": [1.0, 1.5],
                       "total_commands_processed": [0, 100_000]})
    d = tp.demand_from_samples(df, works_completed=2500)
    assert d.cpu_us_per_op == pytest.approx(20) and d.cpu_us_per_work == pytest.approx(800)
    assert d.utilization == pytest.approx(0.2)
    assert d.ceiling()["works_per_s"] == pytest.approx(1250)
    assert d.ceiling(0.8)["ops_per_s"] == pytest.approx(40_000)
    assert tp.cluster_what_if(3, 1250, 40_000) == {"works_per_s": 1250, "kv_ops_per_s": 120_000}


def test_fit_demand_separates_fixed_cost():
    x = [1000.0, 2000.0, 4000.0]
    u = [0.004 + xi * 47e-6 for xi in x]
    f = tp.fit_demand(x, u)
    assert f["cpu_us_per_work"] == pytest.approx(47)
    assert f["idle_utilization"] == pytest.approx(0.004)
    assert f["ceiling_works_per_s"] == pytest.approx(0.996 / 47e-6)
