"""The float64 NumPy reference: shapes, hand-written gradients, LRN and TF SAME padding."""

from __future__ import annotations

import numpy as np
import pytest

from frameworks import reference
from frameworks.spec import LRN_ALPHA, LRN_BETA, LRN_BIAS, LRN_RADIUS, ModelSpec
from frameworks.weights import canonical_weights, random_images

EPS = 1e-6


def _loss(out: np.ndarray) -> float:
    return float(np.sum(out**2) / 2)


def _inputs(spec: ModelSpec) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Canonical weights in float64, rescaled to He scale so that activations (and the loss) stay
    O(1) through the heads and finite differences keep their precision; small random biases."""
    rng = np.random.default_rng(1)
    weights = {k: v.astype(np.float64) for k, v in canonical_weights(spec).items()}
    for name, value in weights.items():
        if name.endswith("/biases"):
            value[...] = rng.normal(0.0, 0.05, value.shape)
        else:
            value *= np.sqrt(2.0 / np.prod(value.shape[:-1])) / 0.1
    return weights, random_images(spec).astype(np.float64)


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(batch_size=1, image_size=57, lrn=True, heads=False),
        ModelSpec(batch_size=2, image_size=57, lrn=False, heads=True),
        ModelSpec(batch_size=2, image_size=67, lrn=True, heads=True),
        ModelSpec(batch_size=1, image_size=224, lrn=True, heads=False),
        ModelSpec(batch_size=2, image_size=224, lrn=False, heads=False),
    ],
)
def test_output_shapes_and_dtypes(spec):
    weights, images = canonical_weights(spec), random_images(spec)
    out = reference.forward(spec, weights, images)
    assert out.shape == spec.output_shape()
    assert out.dtype == np.float64
    out2, grads = reference.forward_backward(spec, weights, images)
    np.testing.assert_array_equal(out2, out)
    assert list(grads) == list(spec.parameter_shapes())
    for name, shape in spec.parameter_shapes().items():
        assert grads[name].shape == shape, name
        assert grads[name].dtype == np.float64, name


def test_heads_read_pool5_in_nhwc_order_and_fc8_has_no_relu():
    spec = ModelSpec(batch_size=2, image_size=121, lrn=False, heads=True)  # pool5 is 3x3x256
    weights, images = canonical_weights(spec), random_images(spec)
    pool5 = reference.forward(ModelSpec(2, 121, lrn=False, heads=False), weights, images)
    assert pool5.shape == (2, 3, 3, 256)
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = np.einsum("bhwc,hwco->bo", pool5, w["fc6/weights"].reshape(3, 3, 256, -1)) + w["fc6/biases"]
    h = np.maximum(h, 0.0) @ w["fc7/weights"] + w["fc7/biases"]
    expected = np.maximum(h, 0.0) @ w["fc8/weights"] + w["fc8/biases"]
    logits = reference.forward(spec, weights, images)
    assert logits.min() < 0 < logits.max()
    np.testing.assert_allclose(logits, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(batch_size=1, image_size=57, lrn=True, heads=False),
        ModelSpec(batch_size=2, image_size=67, lrn=False, heads=False),
        ModelSpec(batch_size=1, image_size=57, lrn=False, heads=True),
        ModelSpec(batch_size=2, image_size=67, lrn=True, heads=True),
    ],
)
def test_gradients_match_finite_differences(spec):
    weights, images = _inputs(spec)
    _, grads = reference.forward_backward(spec, weights, images)
    names = ["conv1/weights", "conv1/biases", "conv2/biases", "conv3/weights", "conv5/weights"]
    if spec.heads:
        names += ["fc6/weights", "fc7/biases", "fc8/weights", "fc8/biases"]
    rng = np.random.default_rng(2)
    for name in names:
        g = grads[name]
        assert np.abs(g).max() > 0, name
        # the largest entry (never vacuous) and a random one
        picks = [np.unravel_index(np.abs(g).argmax(), g.shape), tuple(int(rng.integers(n)) for n in g.shape)]
        w = weights[name]
        for idx in picks:
            saved = w[idx]
            w[idx] = saved + EPS
            up = _loss(reference.forward(spec, weights, images))
            w[idx] = saved - EPS
            down = _loss(reference.forward(spec, weights, images))
            w[idx] = saved
            numeric = (up - down) / (2 * EPS)
            assert numeric == pytest.approx(g[idx], rel=1e-5, abs=1e-6 * np.abs(g).max()), (name, idx)


def _naive_lrn(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    depth = x.shape[-1]
    for index in np.ndindex(x.shape[:-1]):
        for d in range(depth):
            lo, hi = max(0, d - LRN_RADIUS), min(depth, d + LRN_RADIUS + 1)
            sqr_sum = sum(x[index + (c,)] ** 2 for c in range(lo, hi))
            out[index + (d,)] = x[index + (d,)] / (LRN_BIAS + LRN_ALPHA * sqr_sum) ** LRN_BETA
    return out


def test_lrn_matches_naive_tf_formula():
    # scaled so that alpha * sqr_sum is O(1): the normalisation is far from the identity
    x = np.random.default_rng(3).normal(0.0, 30.0, (2, 3, 2, 13))
    y, _ = reference._lrn(x)
    expected = _naive_lrn(x)
    assert np.abs(expected - x).max() > 0.1 * np.abs(x).max()
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_lrn_backward_matches_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 30.0, (1, 2, 2, 11))
    dy = rng.normal(size=x.shape)
    _, back = reference._lrn(x)
    dx, _ = back(dy)
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += EPS * 30
        xm[idx] -= EPS * 30
        numeric[idx] = np.sum(dy * (reference._lrn(xp)[0] - reference._lrn(xm)[0])) / (2 * EPS * 30)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)


def _naive_conv_relu(x, w, b, stride, pad_before, out_size, rows=None):
    """Direct TF SAME convolution; ``pad_before`` is TF's (the odd pixel goes after)."""
    k = w.shape[0]
    rows = range(out_size) if rows is None else rows
    out = {}
    for n in range(x.shape[0]):
        for oy in rows:
            for ox in rows:
                acc = b.copy()
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = oy * stride + ky - pad_before, ox * stride + kx - pad_before
                        if 0 <= iy < x.shape[1] and 0 <= ix < x.shape[2]:
                            acc = acc + x[n, iy, ix] @ w[ky, kx]
                out[n, oy, ox] = np.maximum(acc, 0.0)
    return out


@pytest.mark.parametrize(
    "size, pad_before, out_size",
    [(22, 4, 6), (26, 4, 7), (58, 4, 15), (224, 3, 56)],  # total pads 9, 9, 9, 7: odd
)
def test_conv_same_padding_odd_total_matches_naive(size, pad_before, out_size):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, size, size, 3))
    w = rng.normal(size=(11, 11, 3, 4))
    b = rng.normal(size=4)
    y, _ = reference._conv_relu(x, w, b, 4)
    assert y.shape == (2, out_size, out_size, 4)
    # at 224 only the border rows/columns (top/left and bottom/right) and one inner one
    rows = [0, 1, out_size // 2, out_size - 2, out_size - 1] if size > 60 else None
    expected = _naive_conv_relu(x, w, b, 4, pad_before, out_size, rows)
    assert len(expected) > 0
    for (n, oy, ox), value in expected.items():
        np.testing.assert_allclose(y[n, oy, ox], value, rtol=1e-10, atol=1e-10)


def test_conv_backward_with_odd_padding_matches_finite_differences():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 10, 10, 2))  # stride 4, kernel 5: total pad 3, so (1, 2)
    w = rng.normal(size=(5, 5, 2, 3))
    b = rng.normal(size=3)
    y, back = reference._conv_relu(x, w, b, 4)
    dy = rng.normal(size=y.shape)
    dx, (dw, db) = back(dy)

    def numeric(array):
        out = np.empty_like(array)
        for idx in np.ndindex(array.shape):
            saved = array[idx]
            array[idx] = saved + EPS
            up = np.sum(dy * reference._conv_relu(x, w, b, 4)[0])
            array[idx] = saved - EPS
            down = np.sum(dy * reference._conv_relu(x, w, b, 4)[0])
            array[idx] = saved
            out[idx] = (up - down) / (2 * EPS)
        return out

    assert np.abs(dx[:, -1]).max() > 0  # the bottom row sits next to the extra pad
    for analytic, array in ((dx, x), (dw, w), (db, b)):
        np.testing.assert_allclose(analytic, numeric(array), rtol=1e-6, atol=1e-8)
