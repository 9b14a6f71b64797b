"""The seed's own TF1 program as a reference backend: a ``tf.compat.v1`` graph run by a Session.

The graph is the seed's ``inference``: ``tf.nn.conv2d`` SAME, ``bias_add``, ReLU, ``tf.nn.lrn``,
``tf.nn.max_pool`` VALID, under the seed's variable names (``conv1/weights`` ...), with the images
held in a variable as the seed holds them. ``forward`` is ``sess.run(pool5)`` and
``forward_backward`` is ``sess.run(tf.gradients(tf.nn.l2_loss(pool5), parameters))``, exactly the
seed's ``time_tensorflow_run``: ``sess.run`` returns NumPy, so the device-to-host copy of the
fetched tensors is part of every timed step, as it was in the seed, and ``block`` has nothing
left to wait for. The graph and Session are private to the backend (no process-wide
``disable_eager_execution``), so it can share a process with eager TensorFlow.
"""

from __future__ import annotations

import os

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
    ModelSpec,
)

v1 = tf.compat.v1


def _session_config(config: RunConfig, gpu: bool) -> v1.ConfigProto:
    """The seed's ConfigProto (BFC allocator), plus thread pools and GPU visibility."""
    proto = v1.ConfigProto(intra_op_parallelism_threads=config.threads or 0,
                           inter_op_parallelism_threads=config.threads or 0)
    if not gpu:
        proto.device_count["GPU"] = 0
    proto.gpu_options.allocator_type = "BFC"
    proto.gpu_options.allow_growth = gpu  # otherwise the Session maps all GPU memory
    return proto


class Tf1SeedBackend:
    """The seed network as a ``tf.compat.v1`` graph and Session (variant ``session``)."""

    name = "tf1-seed"

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig):
        if config.precision != "fp32":
            raise Unsupported("tf1-seed runs the seed's fp32 graph only")
        if config.variant not in ("default", "session"):
            raise Unsupported(f"tf1-seed has no variant {config.variant!r}")
        if config.layout not in (None, "nhwc"):
            raise Unsupported("tf1-seed runs the seed's NHWC graph only")
        gpus = tf.config.list_physical_devices("GPU")
        if config.device == "cuda" and not gpus:
            raise BackendUnavailable("tensorflow sees no GPU (is the CUDA build installed?)")
        self.gpu = bool(gpus) and config.device != "cpu"
        if self.gpu and config.tf32 is not None:
            tf.config.experimental.enable_tensor_float_32_execution(config.tf32)
        self.spec, self.config, self.names = spec, config, list(weights)
        self.shapes: list[tuple[str, tuple[int, ...]]] = []
        self.graph = tf.Graph()
        with self.graph.as_default():
            self._images_in = v1.placeholder(tf.float32, spec.input_shape)
            images = v1.Variable(tf.zeros(spec.input_shape), name="images")
            self._load_images = images.assign(self._images_in)
            feeds = {n: v1.placeholder(tf.float32, w.shape) for n, w in weights.items()}
            self.params: dict = {}
            self.output = self._inference(images, feeds)
            self.grads = tf.gradients(tf.nn.l2_loss(self.output), [self.params[n] for n in self.names])
            init = v1.global_variables_initializer()
        self.sess = v1.Session(graph=self.graph, config=_session_config(config, self.gpu))
        self.sess.run(init, {feeds[n]: w for n, w in weights.items()})

    def _record(self, name: str, x) -> None:
        self.shapes.append((name, tuple(x.shape.as_list())))

    def _variables(self, name: str, feeds: dict):
        """``name/weights`` and ``name/biases``, initialised from the fed canonical arrays."""
        for leaf in ("weights", "biases"):
            self.params[f"{name}/{leaf}"] = v1.Variable(feeds[f"{name}/{leaf}"], name=leaf)
        return self.params[f"{name}/weights"], self.params[f"{name}/biases"]

    def _inference(self, x, feeds: dict):
        """The seed's ``inference``, variables created in each layer's scope as the seed does."""
        for name, _, stride, _ in CONVS:
            with v1.name_scope(name) as scope:
                kernel, biases = self._variables(name, feeds)
                x = tf.nn.conv2d(x, kernel, [1, stride, stride, 1], padding="SAME")
                x = tf.nn.relu(tf.nn.bias_add(x, biases), name=scope)
            self._record(name, x)
            if self.spec.lrn and name in LRN_AFTER:
                x = tf.nn.lrn(x, LRN_RADIUS, bias=LRN_BIAS, alpha=LRN_ALPHA, beta=LRN_BETA, name=f"lrn{name[-1]}")
            if name in POOL_AFTER:
                x = v1.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], padding="VALID", name=POOL_AFTER[name])
                self._record(POOL_AFTER[name], x)
        if self.spec.heads:
            x = tf.reshape(x, [self.spec.batch_size, -1])
            for i, (name, _) in enumerate(FCS):
                with v1.name_scope(name):
                    weights, biases = self._variables(name, feeds)
                    x = tf.matmul(x, weights) + biases
                    if i < len(FCS) - 1:
                        x = tf.nn.relu(x)
                self._record(name, x)
        return x

    def activation_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(layer, NHWC shape) per conv, pool and FC layer: the graph's static shapes, as the
        seed's ``print_activations`` printed them."""
        return list(self.shapes)

    def layer_ops(self):
        raise Unsupported("tf1-seed times the seed's whole graph only; tensorflow's per-layer steps run the same ops")

    def set_input(self, images: np.ndarray) -> None:
        self.sess.run(self._load_images, {self._images_in: images})

    def set_labels(self, labels: np.ndarray) -> None:
        raise Unsupported("tf1-seed times forward and forward_backward only, as the seed does")

    def train_step(self):
        raise Unsupported("tf1-seed times forward and forward_backward only, as the seed does")

    def forward(self) -> np.ndarray:
        return self.sess.run(self.output)

    def forward_backward(self) -> list[np.ndarray]:
        return self.sess.run(self.grads)

    def block(self, result) -> None:
        """Nothing to wait for: ``sess.run`` returns only once its results are in host memory."""

    def output_to_numpy(self, result) -> np.ndarray:
        return result

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return dict(zip(self.names, result, strict=True))

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        return self.sess.run(self.params)

    def reset_peak_memory(self) -> None:
        if self.gpu:
            tf.config.experimental.reset_memory_stats("GPU:0")

    def peak_memory_bytes(self) -> int | None:
        if self.gpu:
            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        return None

    def describe(self) -> dict:
        threads = self.config.threads or "default"
        info = {
            "framework": self.name,
            "framework_version": f"{tf.__version__} (tf.compat.v1 Session)",
            "device": "cpu",
            "device_name": "cpu",
            "threads": f"intra={threads} inter={threads}",
        }
        if self.gpu:
            gpu = tf.config.list_physical_devices("GPU")[0]
            build = tf.sysconfig.get_build_info()
            info |= {"device": "cuda",
                     "device_name": tf.config.experimental.get_device_details(gpu).get("device_name", "gpu"),
                     "cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version"),
                     "tf32": tf.config.experimental.tensor_float_32_execution_enabled()}
        return info
