"""The JAX ``tuned`` variant's LRN and max-pool against the default's (XLA's autodiff of the plain formulas) and the
float64 reference, on data of several scales, and on pooling windows full of exact ties."""

import functools

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from frameworks import jax_backend, jax_tuned_ops, reference  # noqa: E402

SHAPES = [(2, 13, 13, 64), (3, 27, 27, 192), (1, 8, 10, 5)]  # pool2 and pool5 inputs, and even sizes, few channels


def _vjp(fn, x, cotangent):
    y, back = jax.vjp(fn, jnp.asarray(x))
    return np.asarray(y), np.asarray(back(jnp.asarray(cotangent))[0])


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("scale", [0.1, 10.0, 300.0])  # at 300 the denominator is ~10: LRN far from linear
@pytest.mark.parametrize("shape", SHAPES[:2])
def test_lrn_matches_the_default_and_the_float64_reference(shape, scale):
    rng = np.random.default_rng(int(scale))
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    cotangent = rng.standard_normal(shape).astype(np.float32)
    y, dx = _vjp(jax_tuned_ops.lrn, x, cotangent)
    y_default, dx_default = _vjp(jax_backend.lrn, x, cotangent)
    y64, back = reference._lrn(x.astype(np.float64))
    dx64 = back(cotangent.astype(np.float64))[0]
    assert _rel(y, y64) < 1e-6 and _rel(dx, dx64) < 1e-6
    assert _rel(y, y_default) < 1e-6 and _rel(dx, dx_default) < 1e-6


@pytest.mark.parametrize("shape", SHAPES)
def test_max_pool_routes_ties_to_the_first_maximum(shape):
    """Small integers: most windows hold their maximum twice or more. The forward is exact, and each window's
    gradient goes whole to its first maximum in row-major order, as XLA's select-and-scatter (Flax) and the
    reference (TensorFlow's rule) send it."""
    rng = np.random.default_rng(len(shape))
    x = rng.integers(-3, 4, shape).astype(np.float32)
    cotangent = rng.standard_normal(jax_tuned_ops.max_pool(jnp.asarray(x)).shape).astype(np.float32)
    y, dx = _vjp(jax_tuned_ops.max_pool, x, cotangent)
    y_default, dx_default = _vjp(jax_backend.max_pool, x, cotangent)
    y64, back = reference._max_pool(x.astype(np.float64), functools.partial(reference.Branches().pool_choice, "pool"))
    np.testing.assert_array_equal(y, y_default)
    np.testing.assert_array_equal(y, y64)
    np.testing.assert_array_equal(dx, dx_default)
    assert _rel(dx, back(cotangent.astype(np.float64))[0]) < 1e-6  # a position of two windows: a float32 sum
