"""AlexNet in TensorFlow 2 with the seed's own ops (``tf.nn.conv2d`` SAME, ``tf.nn.lrn``,
``tf.nn.max_pool2d`` VALID, ``tf.nn.l2_loss``).

Variants: ``default`` (graph mode through ``tf.function``), ``eager`` and ``xla``
(``tf.function(jit_compile=True)``). Layouts: NHWC (native), or NCHW where the device has
the kernels (``tf.nn.lrn`` is NHWC-only, so NCHW transposes around it). Mixed precision
casts the fp32 variables and input to the compute dtype inside the step, as a Keras
mixed-precision policy does for its layers; the result is cast back to fp32.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ start-up chatter out of the logs

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

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

DTYPES = {"fp32": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}
LR, MOMENTUM = 0.01, 0.9
FP16_LOSS_SCALE = 1024.0  # static: the step must not branch on overflow
STRIDES = {name: stride for name, _, stride, _ in CONVS}


def _configure(config: RunConfig) -> str:
    """Threads, GPU memory growth and TF32, before TF starts its runtime; the device string."""
    if config.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
        tf.config.threading.set_inter_op_parallelism_threads(config.threads)
    gpus = tf.config.list_physical_devices("GPU")
    if config.device == "cuda" and not gpus:
        raise BackendUnavailable("tensorflow sees no GPU (is the CUDA build installed?)")
    if config.device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # otherwise TF maps all GPU memory
    if gpus and config.tf32 is not None:
        tf.config.experimental.enable_tensor_float_32_execution(config.tf32)
    return "/GPU:0" if gpus else "/CPU:0"


class TensorFlowBackend:
    """The seed network as ``tf.Variable``s and ``tf.function``s."""

    name = "tensorflow"

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig):
        self.spec, self.config = spec, config
        variant = config.variant
        if variant not in ("default", "eager", "xla"):
            raise Unsupported(f"tensorflow has no variant {config.variant!r}")
        self.device = _configure(config)
        self.nchw = config.layout == "nchw"
        self.fmt = "NCHW" if self.nchw else "NHWC"
        if self.nchw and self.device == "/CPU:0":
            raise Unsupported("TensorFlow's CPU convolutions and pools only support NHWC")
        self.dtype = DTYPES[config.precision]
        self.variables = self._make_variables(weights)
        self.names = list(weights)
        self.params = dict(zip(self.names, self.variables, strict=True))
        self.images = self.labels = self.optimizer = None
        self._taps: list | None = None
        self._forward = self._compiled(self._output)
        self._forward_backward = self._compiled(self._grads)
        self._train_step = self._compiled(self._train)

    def _make_variables(self, weights: dict[str, np.ndarray]) -> list:
        """The parameters as ``tf.Variable``s on this backend's device, in canonical order. This is the
        first TensorFlow op of the backend: a distributed backend joins its cluster here."""
        with tf.device(self.device):
            return [tf.Variable(w, name=n.replace("/", "_")) for n, w in weights.items()]

    def _compiled(self, fn):
        variant = self.config.variant
        return fn if variant == "eager" else tf.function(fn, jit_compile=variant == "xla")

    def _tap(self, name: str, x) -> None:
        if self._taps is not None:
            shape = tuple(x.shape)
            self._taps.append((name, (shape[0], *shape[2:], shape[1]) if self.nchw and len(shape) == 4 else shape))

    def activation_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(layer, NHWC shape) for every conv, pool and FC layer, from an eager forward."""
        self._taps = []
        try:
            with tf.device(self.device):
                self._net(self.images)
            return self._taps
        finally:
            self._taps = None

    def set_input(self, images: np.ndarray) -> None:
        with tf.device(self.device):
            x = tf.constant(images)
            self.images = tf.identity(tf.transpose(x, [0, 3, 1, 2]) if self.nchw else x)

    def set_labels(self, labels: np.ndarray) -> None:
        with tf.device(self.device):
            self.labels = tf.identity(tf.constant(labels))
            self.optimizer = tf.keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)
            self.optimizer.build(self.variables)

    def _lrn(self, x):
        if not self.nchw:
            return tf.nn.lrn(x, LRN_RADIUS, bias=LRN_BIAS, alpha=LRN_ALPHA, beta=LRN_BETA)
        x = tf.nn.lrn(tf.transpose(x, [0, 2, 3, 1]), LRN_RADIUS, bias=LRN_BIAS, alpha=LRN_ALPHA, beta=LRN_BETA)
        return tf.transpose(x, [0, 3, 1, 2])

    def _conv(self, x, w, b, stride: int):
        """Convolution, bias and ReLU in the compute dtype (the fp32 variables cast here)."""
        x = tf.nn.conv2d(x, tf.cast(w, self.dtype), stride, padding="SAME", data_format=self.fmt)
        return tf.nn.relu(tf.nn.bias_add(x, tf.cast(b, self.dtype), data_format=self.fmt))

    def _pool(self, x):
        return tf.nn.max_pool2d(x, 3, 2, padding="VALID", data_format=self.fmt)

    def _fc(self, x, w, b, relu: bool):
        x = tf.matmul(x, tf.cast(w, self.dtype)) + tf.cast(b, self.dtype)
        return tf.nn.relu(x) if relu else x

    def _net(self, x):
        x = self._features(tf.cast(x, self.dtype))
        if self.spec.heads:
            x = self._heads(self._flatten(x))
        elif self.nchw:
            x = tf.transpose(x, [0, 2, 3, 1])
        return tf.cast(x, tf.float32)

    def _features(self, x):
        """conv1 .. pool5, in the compute dtype and this backend's layout."""
        p = self.params
        for name, _, stride, _ in CONVS:
            x = self._conv(x, p[f"{name}/weights"], p[f"{name}/biases"], stride)
            self._tap(name, x)
            if self.spec.lrn and name in LRN_AFTER:
                x = self._lrn(x)
            if name in POOL_AFTER:
                x = self._pool(x)
                self._tap(POOL_AFTER[name], x)
        return x

    def _flatten(self, x):
        """pool5 as rows of fc6 inputs, in NHWC order as the canonical fc6 weights expect."""
        if self.nchw:
            x = tf.transpose(x, [0, 2, 3, 1])
        return tf.reshape(x, [tf.shape(x)[0], -1])

    def _heads(self, x):
        """fc6, fc7 and fc8 on flattened pool5."""
        p = self.params
        for i, (name, _) in enumerate(FCS):
            x = self._fc(x, p[f"{name}/weights"], p[f"{name}/biases"], relu=i < len(FCS) - 1)
            self._tap(name, x)
        return x

    def _output(self, x):
        return self._net(x)

    def _objective(self, loss):
        """What the gradients are taken of: the loss itself here; a data-parallel rank takes its share."""
        return loss

    def _grads(self, x):
        with tf.GradientTape() as tape:
            loss = self._objective(tf.nn.l2_loss(self._net(x)))
        return tape.gradient(loss, self.variables)

    def _train_grads(self, x, labels):
        """The mean cross-entropy and the gradients of its objective (fp16: through a static loss scale)."""
        scale = FP16_LOSS_SCALE if self.dtype == tf.float16 else 1.0
        with tf.GradientTape() as tape:
            logits = self._net(x)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            scaled = self._objective(loss) * scale
        grads = tape.gradient(scaled, self.variables)
        if scale != 1.0:
            grads = [g / scale for g in grads]
        return loss, grads

    def _train(self, x, labels):
        loss, grads = self._train_grads(x, labels)
        self.optimizer.apply_gradients(zip(grads, self.variables, strict=True))
        return loss

    def _layer_fn(self, row: Layer):
        """The network's own ops for one layer, as ``fn(x, *params)``."""
        if row.kind == "conv":
            return functools.partial(self._conv, stride=STRIDES[row.name])
        if row.kind == "fc":
            return functools.partial(self._fc, relu=row.name != FCS[-1][0])
        return {"lrn": self._lrn, "pool": self._pool}[row.kind]

    @staticmethod
    def _layer_grads(op, wrt_input: bool, x, cotangent, *params):
        with tf.GradientTape() as tape:
            if wrt_input:
                tape.watch(x)
            y = op(x, *params)
        return tape.gradient(y, [x, *params] if wrt_input else list(params), output_gradients=cotangent)

    def _layer_steps(self, row: Layer, x, rng: np.random.Generator):
        """(forward, backward) steps of one layer on input ``x``, each one call in the backend's variant."""
        op = self._layer_fn(row)
        params = [v for n, v in self.params.items() if n.startswith(f"{row.name}/")]
        # partials, not lambdas: TF keys its "frequent retracing" warning on a lambda's code, shared by all layers
        forward = self._compiled(functools.partial(op))
        grads = self._compiled(functools.partial(self._layer_grads, op, row.name != CONVS[0][0]))
        with tf.device(self.device):
            y = forward(x, *params)
            cotangent = tf.cast(rng.standard_normal(y.shape, np.float32), y.dtype)

        def placed(step, *args):
            def run():
                with tf.device(self.device):
                    return step(*args)
            return run

        return placed(forward, x, *params), placed(grads, x, cotangent, *params)

    def layer_ops(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """(layer, "forward" | "backward", step) for each layer in network order, each alone on a fixed random
        input of its input shape (fc6: the flattened pool5), in this backend's layout, dtype and variant. The
        backward step is the gradient of ``sum(out * fixed random cotangent)`` with respect to the layer's input
        (not conv1's) and parameters.

        TensorFlow differentiates what a tape recorded in the same call, so the backward step runs the layer's
        forward again under a GradientTape: it times forward + backward, and nothing is subtracted. (Replaying a
        persistent tape of one forward avoids the recompute but runs the gradient outside the graph's
        optimizations: max-pool's gradient took 20 ms there against 2 ms for forward + backward in one
        tf.function, at pool1's input at batch 8.)"""
        rng, rows, ops = np.random.default_rng(0), layer_table(self.spec), []
        for row, shape in zip(rows, [self.spec.input_shape, *(r.output_shape for r in rows)], strict=False):
            x = rng.standard_normal(shape, np.float32)
            if row.kind == "fc":
                x = x.reshape(len(x), -1)
            with tf.device(self.device):
                x = tf.cast(tf.transpose(x, [0, 3, 1, 2]) if self.nchw and x.ndim == 4 else x, self.dtype)
            forward, backward = self._layer_steps(row, x, rng)
            ops += [(row.name, "forward", forward), (row.name, "backward", backward)]
        return ops

    def forward(self):
        with tf.device(self.device):
            return self._forward(self.images)

    def forward_backward(self):
        with tf.device(self.device):
            return self._forward_backward(self.images)

    def train_step(self):
        with tf.device(self.device):
            return self._train_step(self.images, self.labels)

    def block(self, result) -> None:
        # CPU kernels run synchronously; GPU kernels are queued, so wait for the streams.
        if self.device.startswith("/GPU"):
            tf.test.experimental.sync_devices()

    def output_to_numpy(self, result) -> np.ndarray:
        return result.numpy()

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return {n: g.numpy() for n, g in zip(self.names, result, strict=True)}

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        return {n: v.numpy() for n, v in self.params.items()}

    def reset_peak_memory(self) -> None:
        if self.device.startswith("/GPU"):
            tf.config.experimental.reset_memory_stats("GPU:0")

    def peak_memory_bytes(self) -> int | None:
        if self.device.startswith("/GPU"):
            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        return None

    def describe(self) -> dict:
        info = {
            "framework": self.name,
            "framework_version": tf.__version__,
            "device": "cpu",
            "device_name": "cpu",
            "threads": (f"intra={tf.config.threading.get_intra_op_parallelism_threads() or 'default'} "
                        f"inter={tf.config.threading.get_inter_op_parallelism_threads() or 'default'}"),
        }
        if self.device.startswith("/GPU"):
            gpu = tf.config.list_physical_devices("GPU")[0]
            build = tf.sysconfig.get_build_info()
            info |= {"device": "cuda",
                     "device_name": tf.config.experimental.get_device_details(gpu).get("device_name", "gpu"),
                     "cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version"),
                     "tf32": tf.config.experimental.tensor_float_32_execution_enabled()}
        return info
