"""The machine's ceiling, as each framework reaches it: ``alexbench peak``'s measurement.

``measure_peak`` runs inside a worker process (it imports one framework) and times two fp32
products with that framework's own ops: an N x N x N matrix product and a convolution shaped
like AlexNet's conv2 at batch 32 (NHWC [32, 27, 27, 64] * HWIO [5, 5, 64, 192], SAME). The
first calls (trace, compile, autotune, and those that size the run) are not timed; then each
product is repeated for about ``seconds``. On GPU TF32 is off unless asked for, so the rate is
fp32's. The machine's rate is the best median GFLOP/s over every framework and both products
(harness.results.stats.peak_rate). ``measure_peaks`` runs each framework's measurement in its own worker.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any, NamedTuple

import frameworks
from frameworks.base import BackendUnavailable
from harness.core.cases import Case

from .launch import run_worker
from .threads import pin_threads, worker_env
from .timing import time_steps

MATMUL_N = {"cpu": 2048, "cuda": 8192}
CONV_X, CONV_W = (27, 27, 64), (5, 5, 64, 192)  # conv2's input (without batch) and kernel, at 224
MAX_STEPS = 10_000


class Ops(NamedTuple):
    """What a framework builds: the two steps on its device, and how to wait for a step's result."""

    version: str
    device: str
    device_name: str
    n: int
    matmul: Callable[[], Any]
    conv: Callable[[], Any]
    block: Callable[[Any], None]


def _want_gpu(device: str, has_gpu: bool, framework: str) -> bool:
    if device == "cuda" and not has_gpu:
        raise BackendUnavailable(f"{framework} sees no GPU")
    return has_gpu and device != "cpu"


def _tensorflow(device: str, threads: int | None, tf32: bool, n: int | None, batch: int) -> Ops:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    gpu = _want_gpu(device, bool(tf.config.list_physical_devices("GPU")), "tensorflow")
    if gpu:
        tf.config.experimental.enable_tensor_float_32_execution(tf32)
    elif tf.config.list_physical_devices("GPU"):
        tf.config.set_visible_devices([], "GPU")
    n = n or MATMUL_N["cuda" if gpu else "cpu"]
    with tf.device("/GPU:0" if gpu else "/CPU:0"):
        a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
        x, w = tf.random.normal((batch, *CONV_X)), tf.random.normal(CONV_W)
    matmul, conv = tf.function(tf.linalg.matmul), tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"))
    name = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
        "device_name", "gpu") if gpu else "cpu"
    # CPU kernels run synchronously; GPU kernels are queued, so wait for the streams.
    sync = (lambda _: tf.test.experimental.sync_devices()) if gpu else (lambda _: None)
    return Ops(tf.__version__, "cuda" if gpu else "cpu", name, n, lambda: matmul(a, b), lambda: conv(x, w), sync)


def _torch(device: str, threads: int | None, tf32: bool, n: int | None, batch: int) -> Ops:
    import torch
    import torch.nn.functional as F

    if threads is not None:
        torch.set_num_threads(threads)
    gpu = _want_gpu(device, torch.cuda.is_available(), "torch")
    dev = torch.device("cuda" if gpu else "cpu")
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
    n = n or MATMUL_N[dev.type]
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    h, wd, cin = CONV_X
    x = torch.randn(batch, cin, h, wd, device=dev)  # torch's native NCHW, OIHW
    w = torch.randn(CONV_W[3], cin, *CONV_W[:2], device=dev)
    pad = CONV_W[0] // 2  # SAME for an odd kernel at stride 1
    name = torch.cuda.get_device_name(dev) if gpu else "cpu"
    sync = (lambda _: torch.cuda.synchronize()) if gpu else (lambda _: None)
    return Ops(torch.__version__, dev.type, name, n, lambda: torch.mm(a, b), lambda: F.conv2d(x, w, padding=pad),
               sync)


def _jax(device: str, threads: int | None, tf32: bool, n: int | None, batch: int) -> Ops:
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax
    import jax.numpy as jnp
    from jax import lax

    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    gpu = _want_gpu(device, bool(gpus), "jax")
    dev = gpus[0] if gpu else jax.devices("cpu")[0]
    n = n or MATMUL_N["cuda" if gpu else "cpu"]
    precision = lax.Precision.DEFAULT if tf32 else lax.Precision.HIGHEST
    keys = jax.random.split(jax.random.key(0), 4)
    a, b = (jax.device_put(jax.random.normal(k, (n, n)), dev) for k in keys[:2])
    x = jax.device_put(jax.random.normal(keys[2], (batch, *CONV_X)), dev)
    w = jax.device_put(jax.random.normal(keys[3], CONV_W), dev)
    matmul = jax.jit(lambda a, b: jnp.dot(a, b, precision=precision))
    conv = jax.jit(lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=precision))
    return Ops(jax.__version__, "cuda" if gpu else "cpu", dev.device_kind, n, lambda: matmul(a, b),
               lambda: conv(x, w), jax.block_until_ready)


OPS = {"tensorflow": _tensorflow, "torch": _torch, "jax": _jax}


def _rates(step: Callable[[], Any], block: Callable[[Any], None], flops: float, seconds: float) -> tuple:
    """(best GFLOP/s, median GFLOP/s, steps): one warm-up call and three that size the run (all
    untimed), then about ``seconds`` of timed steps."""
    probe = statistics.median(time_steps(step, block, burn_in=1, steps=3).timed)
    steps = max(3, min(MAX_STEPS, round(seconds / probe)))
    times = time_steps(step, block, burn_in=0, steps=steps).timed
    return flops / 1e9 / min(times), flops / 1e9 / statistics.median(times), steps


def measure_peak(framework: str, device: str = "auto", threads: int | None = None, seconds: float = 3.0,
                 n: int | None = None, batch: int = 32, tf32: bool = False) -> dict[str, Any]:
    """Best and median fp32 GFLOP/s of ``framework``'s matrix product (N x N x N, N from
    ``MATMUL_N`` by device unless given) and conv2-shaped convolution (at ``batch``), each
    repeated for about ``seconds``; ``threads`` pins the process and sizes the framework's pools."""
    if framework not in OPS:
        raise ValueError(f"no peak measurement for {framework!r}; choose from {', '.join(OPS)}")
    pin_threads(threads)
    ops = OPS[framework](device, threads, tf32, n, batch)
    h, w, cin = CONV_X
    mm = _rates(ops.matmul, ops.block, 2.0 * ops.n**3, seconds)
    cv = _rates(ops.conv, ops.block, 2.0 * batch * h * w * CONV_W[3] * CONV_W[0] * CONV_W[1] * cin, seconds)
    return {
        "framework": framework, "framework_version": ops.version, "device": ops.device,
        "device_name": ops.device_name, "threads": threads, "tf32": tf32 if ops.device == "cuda" else None,
        "matmul_n": ops.n, "matmul_gflops_best": mm[0], "matmul_gflops_median": mm[1], "matmul_steps": mm[2],
        "conv_batch": batch, "conv_gflops_best": cv[0], "conv_gflops_median": cv[1], "conv_steps": cv[2],
    }


def kernels_of(framework: str) -> str:
    """The framework whose kernels ``framework`` runs (the seed's TF1 program: TensorFlow's)."""
    return frameworks.entry(framework).peak_as or framework


def measure_peaks(names: list[str], device: str, threads: int | None, seconds: float,
                  timeout: float) -> dict[str, dict]:
    """Each framework's ceiling, each in its own worker; failures are kept too."""
    peaks = {}
    for fw in dict.fromkeys(kernels_of(name) for name in names):
        if fw in OPS:
            case = Case(fw, "forward", device=device, threads=threads)
            job = {"kind": "peak", "case": case.to_dict(), "seconds": seconds}
            peaks[fw] = run_worker(job, timeout, worker_env(threads)).result
    return peaks
