"""The timing loop and its statistics."""

import time

import numpy as np
import pytest

from harness.measure.timing import harness_overhead_s, time_steps
from harness.results.stats import statistics


def test_statistics_worked_by_hand():
    times = [1.0, 2.0, 3.0, 4.0]
    s = statistics(times, batch_size=10, flops=5_000_000_000)
    assert s["mean_s"] == 2.5
    assert s["std_s"] == pytest.approx(np.sqrt(1.25))  # population sd, as the seed: sqrt(E[x^2] - mean^2)
    assert s["median_s"] == 2.5
    assert s["iqr_s"] == pytest.approx(3.25 - 1.75)  # linear-interpolated quartiles
    assert (s["min_s"], s["max_s"]) == (1.0, 4.0)
    assert s["p95_s"] == pytest.approx(3.85)
    assert s["images_per_s"] == 4.0
    assert s["gflops"] == 5.0 and s["gflops_per_s"] == 2.0
    assert s["unstable"] is True  # IQR/median = 0.6


def test_stable_when_iqr_is_small():
    assert statistics([1.0, 1.01, 0.99, 1.0, 1.02], 1, 1)["unstable"] is False


def test_seed_mean_and_sd_formula():
    times = [0.026, 0.027, 0.025, 0.026]
    mn = sum(times) / len(times)
    sd = (sum(t * t for t in times) / len(times) - mn * mn) ** 0.5
    s = statistics(times, 32, 1)
    assert s["mean_s"] == pytest.approx(mn) and s["std_s"] == pytest.approx(sd, rel=1e-6)


def test_loop_recovers_a_known_step_time_and_excludes_burn_in():
    calls = []

    def step():
        calls.append(1)
        time.sleep(0.05 if len(calls) <= 3 else 0.01)  # slow burn-in steps

    m = time_steps(step, lambda r: None, burn_in=3, steps=10)
    assert len(m.burn_in) == 3 and len(m.timed) == 10
    assert all(t >= 0.05 for t in m.burn_in)
    assert 0.01 <= np.median(m.timed) < 0.02


def test_block_is_inside_the_timed_region():
    m = time_steps(lambda: None, lambda r: time.sleep(0.01), burn_in=0, steps=3)
    assert len(m.burn_in) == 1  # the compile step always runs
    assert min(m.timed) >= 0.01


def test_progress_counts_every_step():
    seen = []
    time_steps(lambda: None, lambda r: None, burn_in=2, steps=3, on_step=seen.append)
    assert seen == [1, 2, 3, 4, 5]


def test_harness_overhead_is_measured():
    assert 0 < harness_overhead_s(1000) < 0.001
