"""The seed's TF1 program (``tf1-seed``) against the float64 reference, in-process: each backend
is a Session on its own graph."""

import importlib.util

import pytest

from frameworks import reference
from frameworks.base import RunConfig, Unsupported
from frameworks.spec import ModelSpec, activation_listing
from frameworks.weights import canonical_weights, random_images
from harness.analysis.parity import TOLERANCE, relative_error

pytestmark = [pytest.mark.slow,  # the seed's program in TensorFlow, in this process
              pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow not installed")]

SPECS = [ModelSpec(2, 70, lrn, heads) for lrn in (True, False) for heads in (False, True)]


def _build(spec: ModelSpec, **config):
    from frameworks.tf1_seed_backend import Tf1SeedBackend  # imports TensorFlow

    return Tf1SeedBackend(spec, canonical_weights(spec), RunConfig("cpu", **config))


def _backend(spec: ModelSpec, **config):
    backend = _build(spec, **config)
    backend.set_input(random_images(spec))
    return backend


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"lrn={s.lrn}-heads={s.heads}")
def test_parity_with_the_reference(spec):
    backend = _backend(spec, variant="session")
    out_ref, grads_ref = reference.forward_backward(spec, canonical_weights(spec), random_images(spec))
    errors = {"output": relative_error(backend.output_to_numpy(backend.forward()), out_ref)}
    grads = backend.grads_to_numpy(backend.forward_backward())
    assert set(grads) == set(grads_ref)
    errors |= {k: relative_error(grads[k], v) for k, v in grads_ref.items()}
    assert max(errors.values()) <= TOLERANCE, errors


def test_lists_the_seed_shapes():
    spec = ModelSpec(batch_size=32)
    shapes = _build(spec).activation_shapes()
    assert "\n".join(f"{name}   {list(shape)}" for name, shape in shapes) == activation_listing(spec)


@pytest.mark.parametrize("config", [{"precision": "bf16"}, {"variant": "xla"}, {"layout": "nchw"}])
def test_rejects_what_the_seed_did_not_run(config):
    spec = ModelSpec(1, 66)
    with pytest.raises(Unsupported):
        _build(spec, **config)
