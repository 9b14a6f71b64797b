"""The seed's TF1 program (``tf1-seed``) against the float64 reference, in-process: each backend
is a Session on its own graph."""

import pytest

pytest.importorskip("tensorflow")

from frameworks import reference  # noqa: E402
from frameworks.base import RunConfig, Unsupported  # noqa: E402
from frameworks.spec import ModelSpec, activation_listing  # noqa: E402
from frameworks.tf1_seed_backend import Tf1SeedBackend  # noqa: E402
from frameworks.weights import canonical_weights, random_images  # noqa: E402
from harness.parity import TOLERANCE, relative_error  # noqa: E402

SPECS = [ModelSpec(2, 70, lrn, heads) for lrn in (True, False) for heads in (False, True)]


def _backend(spec: ModelSpec, **config) -> Tf1SeedBackend:
    backend = Tf1SeedBackend(spec, canonical_weights(spec), RunConfig("cpu", **config))
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
    shapes = Tf1SeedBackend(spec, canonical_weights(spec), RunConfig("cpu")).activation_shapes()
    assert "\n".join(f"{name}   {list(shape)}" for name, shape in shapes) == activation_listing(spec)


@pytest.mark.parametrize("config", [{"precision": "bf16"}, {"variant": "xla"}, {"layout": "nchw"}])
def test_rejects_what_the_seed_did_not_run(config):
    spec = ModelSpec(1, 66)
    with pytest.raises(Unsupported):
        Tf1SeedBackend(spec, canonical_weights(spec), RunConfig("cpu", **config))
