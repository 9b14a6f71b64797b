"""The experiment matrix: every variant, precision, layout and train_step, end to end."""

import pytest

import frameworks
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images
from harness.analysis import parity
from harness.results.tables import read_run
from tests.clitools import only_run, tiny_run

INSTALLED = [fw for fw in frameworks.available() if fw in ("tensorflow", "torch", "jax")]
pytestmark = [pytest.mark.slow,  # end-to-end runs of real frameworks
              pytest.mark.skipif(not INSTALLED, reason="no framework installed")]

# Mixed precision rounds every layer's inputs to the compute type: unit roundoff u = 2^-8 for
# bf16 (7 stored mantissa bits) and 2^-11 for fp16 (10). Products accumulate in fp32, so the
# output's relative error stays a few u (measured at this size: bf16 5.7e-3 = 1.5u, fp16
# 7.5e-4 = 1.5u); 5u leaves room for other batches without hiding a real error.
PRECISION_TOLERANCE = {"bf16": 5 * 2.0**-8, "fp16": 5 * 2.0**-11}


def test_every_variant_and_mode_runs(tmp_path):
    r = tiny_run(tmp_path, ",".join(INSTALLED), "--variant", "all", "--modes", "forward,forward_backward,train_step",
                 "--lrn", "on", "--steps", "2")
    assert r.returncode == 0, r.stderr
    summary, steps, _ = read_run(only_run(tmp_path))
    expected = {(fw, v) for fw in INSTALLED for v in frameworks.entry(fw).variants}
    assert set(zip(summary.framework, summary.variant, strict=True)) == expected
    assert len(summary) == 3 * len(expected)
    bad = summary[summary.status != "ok"]
    assert bad.empty, bad[["framework", "variant", "mode", "error"]].to_string()
    train = summary[summary["mode"] == "train_step"]
    assert train.heads.all() and (train.gflops > summary[summary["mode"] == "forward"].gflops.max()).all()
    assert (summary.compile_s > 0).all()


def test_precisions_and_layouts_run_or_say_unsupported(tmp_path):
    r = tiny_run(tmp_path, ",".join(INSTALLED), "--precision", "fp32,bf16,fp16", "--layout", "nhwc,nchw",
                 "--modes", "forward", "--lrn", "on", "--steps", "2")
    assert r.returncode == 0, r.stderr
    summary, _, _ = read_run(only_run(tmp_path))
    assert set(summary.status) <= {"ok", "unsupported"}, summary[["framework", "status", "error"]].to_string()
    assert (summary[summary.status == "unsupported"].error != "").all()
    rows = {(f, p, lay): s for f, p, lay, s in
            zip(summary.framework, summary.precision, summary.layout, summary.status, strict=True)}
    for fw in INSTALLED:  # each framework's own layout in fp32 always runs
        assert rows[(fw, "fp32", "native")] == "ok"
    if "jax" in INSTALLED:
        assert rows[("jax", "fp32", "nchw")] == "unsupported"
    if "torch" in INSTALLED:
        assert rows[("torch", "fp32", "nhwc")] == "ok"  # channels_last
    if "tensorflow" in INSTALLED:
        assert rows[("tensorflow", "fp32", "nchw")] == "unsupported"  # no NCHW kernels on CPU
        assert rows[("tensorflow", "bf16", "native")] == "unsupported"  # tf.nn.lrn has no bf16 kernel


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_outputs_against_the_reference(precision):
    spec = ModelSpec(2, 70, lrn=False, heads=True)  # no LRN: TensorFlow has no bf16 LRN kernel
    results = parity.check(spec, canonical_weights(spec), random_images(spec), INSTALLED, "cpu", 600,
                           precision=precision)
    ran = [r for r in results if r.status == "ok"]
    assert ran, [r.message for r in results]
    for r in ran:
        # Outputs only: forward_backward has no loss scaling, and in fp16 the l2 loss's gradients
        # (the logits are in the thousands) overflow to inf.
        assert 1e-7 < r.errors["output"] <= PRECISION_TOLERANCE[precision], (r.framework, r.errors["output"])
