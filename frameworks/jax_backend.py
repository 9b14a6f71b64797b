"""AlexNet in JAX with Flax Linen, compiled with ``jax.jit``.

Linen rather than NNX: a Linen model's parameters are a plain pytree, so the timed
step is one jitted pure function of (params, images) with no module-state
splitting or merging on each call, and Linen's Conv kernels are HWIO and Dense
kernels (in, out), the canonical layouts, so weights load without transposes.
JAX has no LRN op; ``lrn`` below sums squares over a channel window with
``lax.reduce_window``, exactly TF's formula. Mixed precision is Flax's dtype policy:
fp32 parameters (``param_dtype``), bf16/fp16 compute (``dtype``). Training uses optax.
On CPU in fp32 the convolutions are XLA's own, not YNNPACK's (``NO_YNN_CONVOLUTIONS``).
Variants: ``default`` (the plain network above, ``jax.jit``) and ``tuned`` (the same jit, with LRN and max-pool
from ``jax_tuned_ops``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

# JAX otherwise preallocates 75% of GPU memory at start, which hides the real peak.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import flax  # noqa: E402
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax import lax  # noqa: E402

from . import jax_tuned_ops  # noqa: E402
from .base import BackendUnavailable, RunConfig, Unsupported  # noqa: E402
from .spec import (  # noqa: E402
    CONVS,
    FCS,
    LRN_AFTER,
    LRN_ALPHA,
    LRN_BETA,
    LRN_BIAS,
    LRN_RADIUS,
    POOL_AFTER,
    Layer,
    ModelSpec,
    layer_table,
)

PARAM_FIELD = {"weights": "kernel", "biases": "bias"}
DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}
LR, MOMENTUM = 0.01, 0.9
FP16_LOSS_SCALE = 1024.0  # static, as in the TensorFlow backend
KERNELS = {name: (k, stride) for name, k, stride, _ in CONVS}
# XLA:CPU (jaxlib 0.10) hands convolutions to YNNPACK by default, whose fp32 convolutions round about 3x more
# than XLA's own (Eigen) ones: relative error 5-6e-7 per layer of this network against 1.7-2.2e-7, on the same
# input (TensorFlow's CPU convolutions round like Eigen's). Where a max-pool window's two largest values lie
# closer than that (1e-6 relative happens), the fp32 forward may order them unlike float64, and the backward
# then sends that window's gradient to the other element: every gradient below that pool moves by 1e-4..1e-2
# (issue 12; 9 of 30 random weight draws failed parity with YNNPACK, 1 with Eigen, which TensorFlow fails too).
# So fp32 on CPU keeps this jaxlib's other YNNPACK fusions (dots, reductions) and drops the convolutions. It also
# pays (batch 32, 224, LRN on, one process, 10 alternating rounds): forward 638 -> 521 ms (not significant),
# forward_backward 3854 -> 1518 ms: YNNPACK's backward convolutions were the slow ones.
NO_YNN_CONVOLUTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
}


def lrn(x: jax.Array) -> jax.Array:
    """``tf.nn.lrn`` over the last (channel) axis of an NHWC array."""
    window = (1, 1, 1, 2 * LRN_RADIUS + 1)
    pads = ((0, 0), (0, 0), (0, 0), (LRN_RADIUS, LRN_RADIUS))
    sqr_sum = lax.reduce_window(jnp.square(x), 0.0, lax.add, window, (1, 1, 1, 1), pads)
    return x * (LRN_BIAS + LRN_ALPHA * sqr_sum) ** -LRN_BETA


def conv(name: str, features: int, dtype) -> nn.Conv:
    """The Linen convolution of layer ``name`` (TF's SAME padding: the odd pixel after)."""
    k, stride = KERNELS[name]
    return nn.Conv(features, (k, k), strides=(stride, stride), padding="SAME", dtype=dtype, name=name)


def max_pool(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


def _ops(tuned: bool) -> tuple[Callable[[jax.Array], jax.Array], Callable[[jax.Array], jax.Array]]:
    """(lrn, max_pool) of the default variant, or of ``tuned`` (``jax_tuned_ops``)."""
    return (jax_tuned_ops.lrn, jax_tuned_ops.max_pool) if tuned else (lrn, max_pool)


def _apply(module: nn.Module, relu: bool, x, params):
    x = module.apply({"params": params}, x)
    return nn.relu(x) if relu else x


def _layer_op(row: Layer, dtype, tuned: bool = False) -> Callable[[jax.Array, dict], jax.Array]:
    """The network's own ops for one layer, as ``op(x, params)`` with the layer's Linen parameters."""
    if row.kind == "conv":
        return functools.partial(_apply, conv(row.name, row.output_shape[-1], dtype), True)
    if row.kind == "fc":
        return functools.partial(_apply, nn.Dense(row.output_shape[-1], dtype=dtype), row.name != FCS[-1][0])
    lrn_op, pool_op = _ops(tuned)
    fn = lrn_op if row.kind == "lrn" else pool_op
    return lambda x, params: fn(x)


def _pullback(vjp_fn, cotangent):
    """A ``jax.vjp`` function applied to a cotangent: the backward alone, on the forward's saved residuals."""
    return vjp_fn(cotangent)


@functools.cache
def _no_ynn_convolutions(device: jax.Device) -> dict:
    """``NO_YNN_CONVOLUTIONS``, or {} where this XLA has no such option (a jaxlib without YNNPACK)."""
    try:
        jax.jit(jnp.negative, compiler_options=NO_YNN_CONVOLUTIONS).lower(jax.device_put(0.0, device)).compile()
    except RuntimeError:  # XLA rejects an option it does not know
        return {}
    return NO_YNN_CONVOLUTIONS


class AlexNet(nn.Module):
    """The seed network; ``tuned`` takes LRN and max-pool from ``jax_tuned_ops``."""

    lrn: bool
    heads: bool
    dtype: jnp.dtype = jnp.float32
    tuned: bool = False

    @nn.compact
    def __call__(self, x):
        lrn_op, pool_op = _ops(self.tuned)
        x = x.astype(self.dtype)
        for name, _, _, features in CONVS:
            x = nn.relu(conv(name, features, self.dtype)(x))
            self.sow("shapes", "layers", (name, x.shape))
            if self.lrn and name in LRN_AFTER:
                x = lrn_op(x)
            if name in POOL_AFTER:
                x = pool_op(x)
                self.sow("shapes", "layers", (POOL_AFTER[name], x.shape))
        if self.heads:
            x = x.reshape(x.shape[0], -1)
            for i, (name, features) in enumerate(FCS):
                x = nn.Dense(features, dtype=self.dtype, name=name)(x)
                if i < len(FCS) - 1:
                    x = nn.relu(x)
                self.sow("shapes", "layers", (name, x.shape))
        return x.astype(jnp.float32)


def _device(name: str) -> jax.Device:
    """This process's first device (local: in a multi-process group ``jax.devices()[0]`` is rank 0's)."""
    if name != "cpu":
        try:
            return jax.local_devices(backend="gpu")[0]
        except RuntimeError:
            if name == "cuda":
                raise BackendUnavailable("jax sees no GPU (install the extra alexbench[jax-cuda])") from None
    return jax.local_devices(backend="cpu")[0]


class JaxBackend:
    """Parameters as a Linen pytree on the device; forward, gradients and training jitted."""

    name = "jax"

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig):
        self.spec, self.config = spec, config
        if config.variant not in ("default", "tuned"):
            raise Unsupported(f"jax has no variant {config.variant!r}")
        if config.layout not in (None, "nhwc"):
            raise Unsupported("XLA chooses its own physical layouts; Flax convolutions take NHWC")
        self.device = _device(config.device)
        if config.tf32 is not None:  # GPU convs and matmuls may otherwise use TF32
            jax.config.update("jax_default_matmul_precision", "tensorfloat32" if config.tf32 else "highest")
        self.model = AlexNet(lrn=spec.lrn, heads=spec.heads, dtype=DTYPES[config.precision],
                             tuned=config.variant == "tuned")
        fp32_cpu = self.device.platform == "cpu" and config.precision == "fp32"
        self.jit = functools.partial(jax.jit, compiler_options=_no_ynn_convolutions(self.device) if fp32_cpu else None)
        self.loss_scale = FP16_LOSS_SCALE if config.precision == "fp16" else 1.0
        tree: dict = {}
        for name, value in weights.items():
            layer, field = name.split("/")
            tree.setdefault(layer, {})[PARAM_FIELD[field]] = value
        self.params = jax.device_put({"params": tree}, self.device)
        self.names = list(weights)
        self.images = self.labels = self.opt_state = None
        self.optimizer = optax.sgd(LR, momentum=MOMENTUM)
        self._forward = self.jit(self.model.apply)
        self._forward_backward = self.jit(jax.grad(self._l2_loss))
        self._train = self.jit(self._train_step, donate_argnums=(0, 1))

    def _l2_loss(self, params, x):
        return 0.5 * jnp.sum(jnp.square(self.model.apply(params, x)))

    def _ce_loss(self, params, x, labels):
        logits = self.model.apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean() * self.loss_scale

    def _train_step(self, params, opt_state, x, labels):
        loss, grads = jax.value_and_grad(self._ce_loss)(params, x, labels)
        grads = jax.tree.map(lambda g: g / self.loss_scale, grads)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss / self.loss_scale

    def set_input(self, images: np.ndarray) -> None:
        self.images = jax.device_put(images, self.device)

    def set_labels(self, labels: np.ndarray) -> None:
        self.labels = jax.device_put(labels, self.device)
        self.opt_state = jax.device_put(self.optimizer.init(self.params), self.device)

    def activation_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(layer, shape) for every conv, pool and FC layer, traced without computing."""
        shapes: list = []

        def apply(params, x):
            _, state = self.model.apply(params, x, mutable=["shapes"])
            shapes.extend((name, tuple(shape)) for name, shape in state["shapes"]["layers"])

        jax.eval_shape(apply, self.params, self.images)
        return shapes

    def layer_ops(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """(layer, "forward" | "backward", step) for each layer in network order, each alone and jitted, on a
        fixed random input of its input shape (fc6: the flattened pool5) in the compute dtype. The backward step
        is the gradient of ``sum(out * fixed random cotangent)`` with respect to the layer's input (not conv1's)
        and parameters: ``jax.vjp`` runs the forward once here, and the step is the jitted pullback alone."""
        rng, rows, ops = np.random.default_rng(0), layer_table(self.spec), []
        pullback = self.jit(_pullback)
        for row, shape in zip(rows, [self.spec.input_shape, *(r.output_shape for r in rows)], strict=False):
            x = rng.standard_normal(shape, np.float32)
            x = jax.device_put(x.reshape(len(x), -1) if row.kind == "fc" else x, self.device).astype(self.model.dtype)
            op, params = _layer_op(row, self.model.dtype, self.model.tuned), self.params["params"].get(row.name, {})
            if row.name == CONVS[0][0]:
                y, vjp_fn = jax.vjp(functools.partial(op, x), params)
            else:
                y, vjp_fn = jax.vjp(op, x, params)
            cotangent = jax.device_put(rng.standard_normal(y.shape, np.float32), self.device).astype(y.dtype)
            forward = self.jit(op)
            ops += [(row.name, "forward", functools.partial(forward, x, params)),
                    (row.name, "backward", functools.partial(pullback, vjp_fn, cotangent))]
        return ops

    def forward(self):
        return self._forward(self.params, self.images)

    def forward_backward(self):
        return self._forward_backward(self.params, self.images)

    def train_step(self):
        self.params, self.opt_state, loss = self._train(self.params, self.opt_state, self.images, self.labels)
        return self.params, loss

    def block(self, result) -> None:
        jax.block_until_ready(result)  # dispatch is asynchronous on every device, the CPU too

    def output_to_numpy(self, result) -> np.ndarray:
        return np.asarray(result)

    def _canonical(self, tree) -> dict[str, np.ndarray]:
        return {n: np.asarray(tree["params"][n.split("/")[0]][PARAM_FIELD[n.split("/")[1]]]) for n in self.names}

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return self._canonical(result)

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        return self._canonical(self.params)

    def reset_peak_memory(self) -> None:
        """XLA keeps one peak per process; each case runs in its own process."""

    def peak_memory_bytes(self) -> int | None:
        if self.device.platform == "cpu":
            return None
        return int((self.device.memory_stats() or {}).get("peak_bytes_in_use", 0)) or None

    def describe(self) -> dict:
        gpu = self.device.platform != "cpu"
        return {
            "framework": self.name,
            "framework_version": f"{jax.__version__} (flax {flax.__version__})",
            "device": "cuda" if gpu else "cpu",
            "device_name": self.device.device_kind if gpu else "cpu",
            "threads": f"xla default, XLA_FLAGS={os.environ.get('XLA_FLAGS') or 'unset'}",
            "matmul_precision": str(jax.config.jax_default_matmul_precision or "default"),
        }
