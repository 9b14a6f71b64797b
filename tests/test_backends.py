"""The three backends against the float64 reference, each in its own worker process."""

import subprocess
import sys

import numpy as np
import pytest

import frameworks
from frameworks import reference
from frameworks.spec import ModelSpec, activation_listing
from frameworks.weights import canonical_weights, random_images
from harness.analysis import parity
from harness.results.tables import read_run
from tests.clitools import ROOT, alexbench, only_run, tiny_run
from tests.fake_backend import FAKES

INSTALLED = [fw for fw in frameworks.available() if fw not in FAKES]  # conftest registers the fakes


def test_import_frameworks_imports_no_framework():
    code = ("import sys, frameworks, harness.cli; "
            "print(sorted(m for m in ('tensorflow', 'torch', 'jax', 'flax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_backend_lists_the_valid_ones():
    message = "unknown framework 'caffe'; choose from tensorflow, torch, jax"
    with pytest.raises(frameworks.UnknownBackend, match=message):
        frameworks.backend_class("caffe")


def test_missing_framework_names_its_extra(monkeypatch):
    real = frameworks.importlib.util.find_spec
    monkeypatch.setattr(frameworks.importlib.util, "find_spec", lambda m: None if m == "torch" else real(m))
    assert "torch" not in frameworks.available()
    message = frameworks.missing_message("torch")
    assert message == "torch is not installed (no module 'torch'); install it with: pip install 'alexbench[torch]'"
    with pytest.raises(frameworks.BackendUnavailable, match=r"alexbench\[torch\]"):
        frameworks.backend_class("torch")


def test_a_missing_framework_disables_only_its_own_cases(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXBENCH_BACKENDS", "ghost=ghost_framework.backend:Ghost")
    from tests import clitools
    monkeypatch.setattr(clitools, "PLUGINS", clitools.PLUGINS + ",ghost=ghost_framework.backend:Ghost")
    r = tiny_run(tmp_path, "ghost,fake-sleep", "--lrn", "on", "--modes", "forward")
    assert r.returncode == 0, r.stderr
    summary = (only_run(tmp_path) / "summary.csv").read_text()
    assert "unavailable" in summary and "pip install 'alexbench[ghost]'" in summary
    assert "fake-sleep,default,forward,True,False,1,66,fp32" in summary and ",ok," in summary


@pytest.mark.slow
@pytest.mark.parametrize("framework", frameworks.NAMES[:3])
def test_backend_lists_the_seed_shapes(framework):
    if framework not in INSTALLED:
        pytest.skip(f"{framework} not installed")
    from harness.measure.activations import backend_listing
    spec = ModelSpec(batch_size=32)
    assert backend_listing(framework, spec) == activation_listing(spec)


@pytest.mark.slow
def test_parity_command_dumps_and_passes(tmp_path):
    if not INSTALLED:
        pytest.skip("no framework installed")
    r = alexbench("parity", "--frameworks", ",".join(INSTALLED), "--batch-size", "1", "--image-size", "66", "--heads",
                  "--dump", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    for fw in INSTALLED:
        assert f"{fw}: pass" in r.stdout
        with np.load(tmp_path / f"{fw}.npz") as dump:
            assert dump["output"].shape == (1, 1000)
            assert dump["grad/fc6/weights"].shape == (256, 4096)


def test_parity_detects_a_mismatch():
    spec = ModelSpec(1, 66)
    w = canonical_weights(spec)
    out, grads = reference.forward_backward(spec, w, random_images(spec))
    assert parity.relative_error(out * (1 + 2e-5), out) > parity.TOLERANCE
    assert parity.relative_error(out, out) == 0.0
    assert parity.relative_error(out[..., :10], out) == float("inf")  # a shape mismatch


@pytest.mark.slow
def test_end_to_end_run_of_every_installed_framework(tmp_path):
    if not INSTALLED:
        pytest.skip("no framework installed")
    r = tiny_run(tmp_path, ",".join(INSTALLED), "--peak-seconds", "0.2")
    assert r.returncode == 0, r.stderr
    run = only_run(tmp_path)
    summary, steps, env = read_run(run)
    assert len(summary) == 4 * len(INSTALLED) and set(summary.status) == {"ok"}
    assert {p.name for p in run.iterdir()} >= {"summary.csv", "steps.csv", "env.json", "run.log"}
    peak = env["peak_gflops"]
    assert peak == max(p[k] for p in env["peak"].values() for k in ("matmul_gflops_median", "conv_gflops_median"))
    assert summary.pct_of_peak.to_list() == pytest.approx((summary.gflops_per_s / peak * 100).to_list())


@pytest.mark.slow
@pytest.mark.parametrize("framework, variant", [("torch", "tuned"), ("torch", "compile"), ("tensorflow", "xla"),
                                                    ("jax", "tuned")])
def test_other_variants_keep_parity(framework, variant):
    if framework not in INSTALLED:
        pytest.skip(f"{framework} not installed")
    spec = ModelSpec(2, 70, True, True)
    (r,) = parity.check(spec, canonical_weights(spec), random_images(spec), [framework], "cpu", 600, variant=variant)
    assert r.status == "ok", r.message
    assert max(r.errors.values()) <= parity.TOLERANCE, r.errors
