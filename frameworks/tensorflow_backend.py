"""AlexNet in TensorFlow 2: graph mode through ``tf.function``, NHWC, the seed's own ops
(``tf.nn.conv2d`` SAME, ``tf.nn.lrn``, ``tf.nn.max_pool2d`` VALID, ``tf.nn.l2_loss``)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ start-up chatter out of the logs

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from .base import BackendUnavailable, RunConfig  # noqa: E402
from .spec import (  # noqa: E402
    CONVS,
    FCS,
    LRN_AFTER,
    LRN_ALPHA,
    LRN_BETA,
    LRN_BIAS,
    LRN_RADIUS,
    POOL_AFTER,
    ModelSpec,
)


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
    """The seed network as ``tf.Variable``s and two ``tf.function``s."""

    name = "tensorflow"

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig):
        self.spec, self.config = spec, config
        self.device = _configure(config)
        with tf.device(self.device):
            self.variables = [tf.Variable(w, name=n.replace("/", "_")) for n, w in weights.items()]
        self.names = list(weights)
        self.params = dict(zip(self.names, self.variables, strict=True))
        self.images = None
        self._taps: list | None = None
        self._forward = tf.function(self._net)
        self._forward_backward = tf.function(self._grads)

    def set_input(self, images: np.ndarray) -> None:
        with tf.device(self.device):
            self.images = tf.identity(tf.constant(images))

    def _tap(self, name: str, x) -> None:
        if self._taps is not None:
            self._taps.append((name, tuple(x.shape)))

    def activation_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(layer, shape) for every conv, pool and FC layer, from an eager forward."""
        self._taps = []
        try:
            with tf.device(self.device):
                self._net(self.images)
            return self._taps
        finally:
            self._taps = None

    def _net(self, x):
        p = self.params
        for name, _, stride, _ in CONVS:
            x = tf.nn.conv2d(x, p[f"{name}/weights"], stride, padding="SAME")
            x = tf.nn.relu(tf.nn.bias_add(x, p[f"{name}/biases"]))
            self._tap(name, x)
            if self.spec.lrn and name in LRN_AFTER:
                x = tf.nn.lrn(x, LRN_RADIUS, bias=LRN_BIAS, alpha=LRN_ALPHA, beta=LRN_BETA)
            if name in POOL_AFTER:
                x = tf.nn.max_pool2d(x, 3, 2, padding="VALID")
                self._tap(POOL_AFTER[name], x)
        if self.spec.heads:
            x = tf.reshape(x, [tf.shape(x)[0], -1])
            for i, (name, _) in enumerate(FCS):
                x = tf.matmul(x, p[f"{name}/weights"]) + p[f"{name}/biases"]
                if i < len(FCS) - 1:
                    x = tf.nn.relu(x)
                self._tap(name, x)
        return x

    def _grads(self, x):
        with tf.GradientTape() as tape:
            loss = tf.nn.l2_loss(self._net(x))
        return tape.gradient(loss, self.variables)

    def forward(self):
        with tf.device(self.device):
            return self._forward(self.images)

    def forward_backward(self):
        with tf.device(self.device):
            return self._forward_backward(self.images)

    def block(self, result) -> None:
        # CPU kernels run synchronously; GPU kernels are queued, so wait for the streams.
        if self.device.startswith("/GPU"):
            tf.test.experimental.sync_devices()

    def output_to_numpy(self, result) -> np.ndarray:
        return result.numpy()

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return {n: g.numpy() for n, g in zip(self.names, result, strict=True)}

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
