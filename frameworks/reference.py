"""A float64 NumPy reference of the seed AlexNet: forward and a hand-written backward.

No deep-learning framework is used. Each layer helper returns its output and a
``back`` closure mapping the output gradient to ``(input gradient, parameter grads)``;
``forward_backward`` replays those closures in reverse. Convolutions build patches
with one slice per kernel offset and contract them with ``np.tensordot``.

The network branches at every ReLU (is the input above 0?) and every max-pool window (which value is
largest?). ``Branches`` records how close each decision was, and can take chosen ones the other way:
float32 can decide otherwise than float64 where a decision is that close (harness.analysis.parity).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .spec import (
    CONVS,
    FCS,
    LRN_AFTER,
    LRN_ALPHA,
    LRN_BETA,
    LRN_BIAS,
    LRN_RADIUS,
    POOL_AFTER,
    POOL_K,
    POOL_S,
    ModelSpec,
    same_out,
    same_pads,
)

Back = Callable[[np.ndarray], tuple[np.ndarray | None, tuple[np.ndarray, ...]]]


class Branches:
    """Each branch decision of a forward pass, and the ones to take the other way.

    ``margins[layer]``: per position, how close the decision was, relative to the layer's scale: a ReLU's
    ``|input| / rms(input)``; a max-pool window's gap between its two largest values over the rms of the pooled
    values (infinite for a window of zeros, which passes no gradient either way). ``flips[layer]``: flat positions
    (of the ReLU's output, or the pool's output) whose decision is taken the other way: a ReLU passes the gradient
    where it blocked it and blocks it where it passed it, a max-pool sends it to the window's second largest value.
    The forward values are float64's either way: at such a position they differ by the margin only."""

    def __init__(self, flips: dict[str, list[int]] | None = None):
        self.flips = flips or {}
        self.margins: dict[str, np.ndarray] = {}

    def _flipped(self, name: str, size: int) -> np.ndarray:
        flip = np.zeros(size, bool)
        flip[np.asarray(self.flips.get(name, []), int)] = True
        return flip

    def relu_mask(self, name: str, z: np.ndarray) -> np.ndarray:
        """Where the ReLU of layer ``name`` passes the gradient, for inputs ``z``."""
        self.margins[name] = (np.abs(z) / (np.sqrt(np.mean(z * z)) or 1.0)).ravel()
        return (z > 0) ^ self._flipped(name, z.size).reshape(z.shape)

    def pool_choice(self, name: str, windows: np.ndarray) -> np.ndarray:
        """Which window offset each output of max-pool ``name`` takes its value (and gradient) from."""
        order = np.argsort(-windows, axis=0, kind="stable")  # the first maximum first, as TF's MaxPoolGrad
        top = np.take_along_axis(windows, order[:2], axis=0)
        scale = np.sqrt(np.mean(top[0] * top[0])) or 1.0
        # a window of zeros (every input blocked by its ReLU) passes no gradient, whichever zero it picks
        self.margins[name] = np.where(top[0] == 0, np.inf, (top[0] - top[1]) / scale).ravel()
        return np.where(self._flipped(name, top[0].size).reshape(top[0].shape), order[1], order[0])


def _patches(xp: np.ndarray, k: int, s: int, oh: int, ow: int) -> np.ndarray:
    """(B, oh, ow, k, k, C) windows of the padded input ``xp``."""
    out = np.empty((xp.shape[0], oh, ow, k, k, xp.shape[3]), xp.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, :, i, j, :] = xp[:, i : i + s * oh : s, j : j + s * ow : s, :]
    return out


def _relu_passes(z: np.ndarray) -> np.ndarray:
    return z > 0


def _conv_relu(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, need_dx: bool = True, passes=_relu_passes):
    """TF SAME convolution (weights HWIO), bias and ReLU; ``passes(z)``: where the ReLU passes the gradient."""
    k = w.shape[0]
    (h0, h1), (w0, w1) = same_pads(x.shape[1], k, s), same_pads(x.shape[2], k, s)
    xp = np.pad(x, ((0, 0), (h0, h1), (w0, w1), (0, 0)))
    oh, ow = same_out(x.shape[1], s), same_out(x.shape[2], s)
    z = np.tensordot(_patches(xp, k, s, oh, ow), w, axes=3) + b
    y, mask = np.maximum(z, 0.0), passes(z)

    def back(dy):
        dy = dy * mask
        dw = np.tensordot(_patches(xp, k, s, oh, ow), dy, axes=([0, 1, 2], [0, 1, 2]))
        grads = (dw, dy.sum(axis=(0, 1, 2)))
        if not need_dx:
            return None, grads
        dpatches = np.tensordot(dy, w, axes=([3], [3]))  # (B, oh, ow, k, k, Cin)
        dxp = np.zeros_like(xp)
        for i in range(k):
            for j in range(k):
                dxp[:, i : i + s * oh : s, j : j + s * ow : s, :] += dpatches[:, :, :, i, j, :]
        return dxp[:, h0 : h0 + x.shape[1], w0 : w0 + x.shape[2], :], grads

    return y, back


def _window_sum(a: np.ndarray) -> np.ndarray:
    """Sum over channels c-r..c+r (clipped to the valid channels) along the last axis."""
    r, c = LRN_RADIUS, a.shape[-1]
    ap = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(r, r)])
    return sum(ap[..., d : d + c] for d in range(2 * r + 1))


def _lrn(x: np.ndarray):
    """tf.nn.lrn: ``x / (bias + alpha * window_sum(x**2)) ** beta``."""
    den = LRN_BIAS + LRN_ALPHA * _window_sum(x * x)
    y = x * den**-LRN_BETA

    def back(dy):
        inner = _window_sum(dy * x * den ** (-LRN_BETA - 1.0))
        return dy * den**-LRN_BETA - 2.0 * LRN_ALPHA * LRN_BETA * x * inner, ()

    return y, back


def _max_pool(x: np.ndarray, choose):
    """3x3 stride-2 VALID max-pool; ``choose(windows)``: the offset each output's gradient goes to (the first
    maximum of its window, as TF)."""
    k, s = POOL_K, POOL_S
    oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    offsets = [(i, j) for i in range(k) for j in range(k)]
    windows = np.stack([x[:, i : i + s * oh : s, j : j + s * ow : s, :] for i, j in offsets])
    arg = choose(windows)
    y = windows.max(axis=0)

    def back(dy):
        dx = np.zeros_like(x)
        for n, (i, j) in enumerate(offsets):
            dx[:, i : i + s * oh : s, j : j + s * ow : s, :] += dy * (arg == n)
        return dx, ()

    return y, back


def _fc(x: np.ndarray, w: np.ndarray, b: np.ndarray, passes=None):
    """Fully connected layer (weights (in, out)); with ``passes`` (see ``_conv_relu``) a ReLU."""
    y = x @ w + b
    mask = None
    if passes is not None:
        y, mask = np.maximum(y, 0.0), passes(y)

    def back(dy):
        if mask is not None:
            dy = dy * mask
        return dy @ w.T, (x.T @ dy, dy.sum(axis=0))

    return y, back


def _flatten(x: np.ndarray):
    """NHWC -> (B, H*W*C), in NHWC order."""
    return x.reshape(x.shape[0], -1), lambda dy: (dy.reshape(x.shape), ())


def _run(spec: ModelSpec, weights: dict[str, np.ndarray], images: np.ndarray, tape: list | None,
         branches: Branches | None = None):
    """The network's forward; appends ``(parameter names, back)`` per layer to ``tape`` if given; records (and
    takes) its branch decisions in ``branches``."""
    w = {name: np.asarray(weights[name], np.float64) for name in spec.parameter_shapes()}
    branches = branches or Branches()

    def apply(names: tuple[str, ...], result: tuple[np.ndarray, Back]) -> np.ndarray:
        if tape is not None:
            tape.append((names, result[1]))
        return result[0]

    x = np.asarray(images, np.float64)
    for n, (name, _, stride, _) in enumerate(CONVS):
        names = (f"{name}/weights", f"{name}/biases")
        passes = functools.partial(branches.relu_mask, name)
        x = apply(names, _conv_relu(x, w[names[0]], w[names[1]], stride, n > 0, passes))
        if spec.lrn and name in LRN_AFTER:
            x = apply((), _lrn(x))
        if name in POOL_AFTER:
            x = apply((), _max_pool(x, functools.partial(branches.pool_choice, POOL_AFTER[name])))
    if spec.heads:
        x = apply((), _flatten(x))
        for name, _ in FCS:
            names = (f"{name}/weights", f"{name}/biases")
            passes = functools.partial(branches.relu_mask, name) if name != FCS[-1][0] else None
            x = apply(names, _fc(x, w[names[0]], w[names[1]], passes))
    return x


def forward(spec: ModelSpec, weights: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """pool5 in NHWC (the logits ``[B, 1000]`` with heads), in float64."""
    return _run(spec, weights, images, None)


def gradients(
    spec: ModelSpec, weights: dict[str, np.ndarray], images: np.ndarray,
    output_grad: Callable[[np.ndarray], np.ndarray], branches: Branches | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The output and the float64 gradient of a loss for every parameter, given the loss's
    gradient with respect to the output."""
    tape: list = []
    out = _run(spec, weights, images, tape, branches)
    grads: dict[str, np.ndarray] = {}
    g = output_grad(out)
    for names, back in reversed(tape):
        g, param_grads = back(g)
        grads.update(zip(names, param_grads, strict=True))
    return out, {name: grads[name] for name in spec.parameter_shapes()}


def forward_backward(
    spec: ModelSpec, weights: dict[str, np.ndarray], images: np.ndarray, branches: Branches | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The output and the float64 gradients of ``sum(output**2) / 2`` for every parameter."""
    return gradients(spec, weights, images, lambda out: out, branches)


def cross_entropy_grad(labels: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """d mean(softmax cross-entropy) / d logits, for integer ``labels``."""

    def grad(logits: np.ndarray) -> np.ndarray:
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1.0
        return p / len(labels)

    return grad


def train(
    spec: ModelSpec, weights: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray, steps: int,
    lr: float = 0.01, momentum: float = 0.9, branches: list[Branches] | None = None,
) -> dict[str, np.ndarray]:
    """The parameters after ``steps`` SGD steps with momentum (PyTorch's form: ``v = m v + g;
    w -= lr v``, which optax and Keras equal) on softmax cross-entropy; needs the heads. ``branches``: one
    per step."""
    params = {k: np.asarray(v, np.float64).copy() for k, v in weights.items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    for step in range(steps):
        _, grads = gradients(spec, params, images, cross_entropy_grad(labels), branches[step] if branches else None)
        for k, g in grads.items():
            velocity[k] = momentum * velocity[k] + g
            params[k] -= lr * velocity[k]
    return params
