"""The ceiling: each installed framework's peak measurement at a tiny size (structure, not speed),
and the rate and percentages derived from it."""

import importlib.util
import json
import math
import subprocess
import sys

import pytest

from harness.results.stats import pct_of_peak, peak_rate
from tests.clitools import ROOT

CODE = ("import json; from harness.measure.peak import measure_peak; "
        "print(json.dumps(measure_peak({!r}, 'cpu', threads=1, seconds=0.05, n=64, batch=1)))")


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["tensorflow", "torch", "jax"])
def test_measure_peak_gives_positive_rates(framework):
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} not installed")
    # Its own process, as a worker runs it: the thread settings and the framework's runtime are per process.
    out = subprocess.run([sys.executable, "-c", CODE.format(framework)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert (result["framework"], result["device"], result["threads"]) == (framework, "cpu", 1)
    assert (result["matmul_n"], result["conv_batch"]) == (64, 1)
    for op in ("matmul", "conv"):
        best, median = result[f"{op}_gflops_best"], result[f"{op}_gflops_median"]
        assert math.isfinite(best) and median > 0 and best >= median
        assert result[f"{op}_steps"] >= 3


def test_peak_rate_is_the_best_of_every_framework_and_product():
    # the rate is the best median (a lucky single step does not set it)
    results = [{"matmul_gflops_median": 80.0, "conv_gflops_median": 120.0, "matmul_gflops_best": 200.0},
               {"matmul_gflops_median": 150.0, "conv_gflops_median": 90.0}, {"status": "failed"}]
    assert peak_rate(results) == 150.0
    with pytest.raises(ValueError):
        peak_rate([{"status": "failed"}])


def test_pct_of_peak():
    assert pct_of_peak(50.0, 200.0) == 25.0


def test_unknown_framework_is_named():
    from harness.measure.peak import measure_peak
    with pytest.raises(ValueError, match="choose from tensorflow, torch, jax"):
        measure_peak("caffe")
