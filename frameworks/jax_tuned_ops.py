"""The JAX ``tuned`` variant's LRN and max-pool: the same functions as ``jax_backend.lrn`` and ``max_pool``, written
the way XLA:CPU runs fast. Profiled inside the whole network (``jax.profiler``, batch 32, 224, LRN on, AVX2 CPU),
the default's forward_backward spends a third of its step outside the convolutions, in three places:

- ``d ** -0.75`` in LRN is a ``pow`` (a log and an exp per element): 34 ms for conv1's output against 3 ms for
  ``rsqrt(d) * sqrt(rsqrt(d))``, the same number to 2 ulp;
- LRN's autodiff backward raises ``d`` to a second power and sums a padded window again; here the backward is
  TensorFlow's LRNGrad formula on the forward's residuals, with no power and no division;
- the max-pools' gradient: XLA:CPU expands select-and-scatter into an index ``iota`` the size of the input, a
  (value, index) ``reduce_window`` and a ``scatter`` (about 100 ms per pool here). As a chain of ``where`` over
  the window's nine strided slices the gradient is a few fused selects and pads (11-16 ms per pool, forward and
  backward), and it still goes to each window's first maximum in row-major order, as TensorFlow's does.
"""

from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp
from jax import lax

from .spec import LRN_ALPHA, LRN_BETA, LRN_BIAS, LRN_RADIUS, POOL_K, POOL_S, pool_out

assert LRN_BETA == 0.75, "lrn's rsqrt(d) * sqrt(rsqrt(d)) is d ** -0.75"


def channel_window_sum(x: jax.Array) -> jax.Array:
    """The sum over LRN's channel window (the last axis, zero beyond the ends), as shifted slices XLA fuses."""
    c = x.shape[-1]
    padded = jnp.pad(x, ((0, 0),) * (x.ndim - 1) + ((LRN_RADIUS, LRN_RADIUS),))
    return functools.reduce(operator.add, (padded[..., i:i + c] for i in range(2 * LRN_RADIUS + 1)))


def _lrn_parts(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(r, scale): r = rsqrt(bias + alpha * window sum of x^2) and scale = r ** 1.5 = (...) ** -beta."""
    r = lax.rsqrt(LRN_BIAS + LRN_ALPHA * channel_window_sum(jnp.square(x)))
    return r, r * jnp.sqrt(r)


@jax.custom_vjp
def lrn(x: jax.Array) -> jax.Array:
    """``tf.nn.lrn`` over the last (channel) axis of an NHWC array."""
    return _lrn_forward(x)[0]


def _lrn_forward(x):
    r, scale = _lrn_parts(x)
    return x * scale, (x, r, scale)


def _lrn_backward(residuals, g):
    """dx_j = g_j d_j^-beta - 2 alpha beta x_j sum_{i near j} g_i x_i d_i^(-beta-1), with d^-1 = r^2."""
    x, r, scale = residuals
    return (g * scale - (2 * LRN_ALPHA * LRN_BETA) * x * channel_window_sum(g * x * scale * r * r),)


lrn.defvjp(_lrn_forward, _lrn_backward)


def max_pool(x: jax.Array) -> jax.Array:
    """3x3 stride-2 VALID max-pool of an NHWC array, as a chain of selects over the window's strided slices: each
    slice replaces the running maximum only where it is strictly greater, so the gradient (autodiff of ``where``)
    goes to each window's first maximum in row-major order, as TensorFlow's MaxPoolGrad's and XLA's
    select-and-scatter's."""
    out_h, out_w = pool_out(x.shape[1]), pool_out(x.shape[2])
    out = None
    for a in range(POOL_K):
        for b in range(POOL_K):
            s = x[:, a:a + POOL_S * (out_h - 1) + 1:POOL_S, b:b + POOL_S * (out_w - 1) + 1:POOL_S]
            out = s if out is None else jnp.where(s > out, s, out)
    return out
