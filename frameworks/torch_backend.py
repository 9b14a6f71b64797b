"""AlexNet in PyTorch: eager (the ``default`` variant), ``torch.compile``, or ``tuned`` (LRN as a 1x1
convolution, channels_last, glibc's allocator kept from unmapping freed activations, cuDNN autotuning on
GPU, and the forward step compiled while forward_backward stays eager), NCHW (native) or channels_last
(``nhwc``).

TF SAME padding is asymmetric for stride 4 on 224 (3 before, 4 after), which
``Conv2d(padding=...)`` cannot express, so each conv pads explicitly with ``F.pad``.
PyTorch's ``local_response_norm`` divides alpha by ``size``; size = 2r+1 = 9 and
alpha = 0.001 give TF's alpha = 0.001 / 9 over the same window. Mixed precision is
PyTorch's idiom, ``torch.autocast`` (weights stay fp32); fp16 training uses a GradScaler.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .allocator import keep_freed_memory
from .base import BackendUnavailable, RunConfig, Unsupported
from .spec import (
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
    same_pads,
)

LRN_SIZE = 2 * LRN_RADIUS + 1
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
LR, MOMENTUM = 0.01, 0.9
KERNELS = {name: {"k": k, "stride": stride} for name, k, stride, _ in CONVS}


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, k: int, stride: int) -> torch.Tensor:
    """TF-SAME convolution (explicit, possibly asymmetric padding), bias and ReLU."""
    top, bottom = same_pads(x.shape[2], k, stride)
    left, right = same_pads(x.shape[3], k, stride)
    return F.relu(F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride))


def _lrn(x: torch.Tensor) -> torch.Tensor:
    return F.local_response_norm(x, LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_BIAS)


def _band(channels: int, device: torch.device) -> torch.Tensor:
    """A 1x1 conv kernel with alpha on the 2r+1 middle diagonals: it sums squares over the LRN window."""
    i = torch.arange(channels)
    return (((i[:, None] - i[None, :]).abs() <= LRN_RADIUS).float() * LRN_ALPHA)[:, :, None, None].to(device)


def _lrn_banded(x: torch.Tensor, bands: dict[int, torch.Tensor]) -> torch.Tensor:
    """The ``tuned`` variant's LRN: the window sum as a 1x1 convolution (``bands`` by channel count), which
    oneDNN/cuDNN run far faster than ``local_response_norm``'s padded ``avg_pool3d``; the same function."""
    return x * (LRN_BIAS + F.conv2d(x * x, bands[x.shape[1]])).pow(-LRN_BETA)


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, 2)


def _fc(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, relu: bool) -> torch.Tensor:
    x = F.linear(x, w, b)
    return F.relu(x) if relu else x


def _layer_op(row: Layer, lrn: Callable[[torch.Tensor], torch.Tensor] = _lrn) -> Callable[..., torch.Tensor]:
    """The network's own ops for one layer, as ``op(x, *params)``."""
    if row.kind == "conv":
        return functools.partial(_conv, **KERNELS[row.name])
    if row.kind == "fc":
        return functools.partial(_fc, relu=row.name != FCS[-1][0])
    return {"lrn": lrn, "pool": _pool}[row.kind]


def _device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if name == "cuda":
        raise BackendUnavailable("torch sees no CUDA device")
    return torch.device("cpu")


class TorchBackend:
    """The seed network with canonical weights converted to OIHW once, at build."""

    name = "torch"

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig):
        self.spec, self.config = spec, config
        if config.variant not in ("default", "compile", "tuned"):
            raise Unsupported(f"torch has no variant {config.variant!r}")
        tuned = config.variant == "tuned"
        self.allocator = keep_freed_memory() if tuned else "system default"
        if config.threads is not None:
            torch.set_num_threads(config.threads)
            torch.set_num_interop_threads(config.threads)
        self.device = _device(config.device)
        self.lrn = _lrn
        if tuned:
            bands = {out: _band(out, self.device) for name, _, _, out in CONVS if name in LRN_AFTER}
            self.lrn = functools.partial(_lrn_banded, bands=bands)
        if self.device.type == "cuda" and tuned:
            torch.backends.cudnn.benchmark = True  # cuDNN autotunes each conv for the fixed shapes; GPU only
        if self.device.type == "cuda" and config.tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = config.tf32
            torch.backends.cudnn.allow_tf32 = config.tf32
        # tuned: channels_last unless a layout is forced (oneDNN's native blocked-NHWC path)
        nhwc = config.layout == "nhwc" or (tuned and config.layout is None)
        self.memory_format = torch.channels_last if nhwc else torch.contiguous_format
        self.params = {}
        for name, value in weights.items():
            t = torch.tensor(np.asarray(value, np.float32))  # a copy: training must not write into `weights`
            if name.startswith("conv") and name.endswith("/weights"):
                t = t.permute(3, 2, 0, 1).contiguous(memory_format=self.memory_format)  # HWIO -> OIHW
            elif name.endswith("/weights"):
                t = t.t().contiguous()  # (in, out) -> (out, in) for F.linear
            self.params[name] = t.to(self.device).requires_grad_(True)
        self.autocast = DTYPES.get(config.precision)
        self.net = torch.compile(self._net) if config.variant == "compile" else self._net
        # tuned compiles the forward step only: Inductor's graph beats eager there (231 against 242 ms on the
        # 2-core CPU) but its forward_backward was slower (730 against 697 ms)
        self.inference_net = torch.compile(self._net) if tuned else self.net
        self.images: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.optimizer = None
        self.scaler = None
        self._taps: list | None = None

    def _tap(self, name: str, x: torch.Tensor) -> None:
        if self._taps is not None:
            shape = tuple(x.shape)
            self._taps.append((name, shape if x.dim() == 2 else (shape[0], *shape[2:], shape[1])))

    def activation_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(layer, NHWC shape) for every conv, pool and FC layer, from a real forward."""
        self._taps = []
        try:
            with torch.no_grad():
                self._net(self.images)
            return self._taps
        finally:
            self._taps = None

    def set_input(self, images: np.ndarray) -> None:
        x = torch.from_numpy(images).permute(0, 3, 1, 2)
        self.images = x.contiguous(memory_format=self.memory_format).to(self.device)

    def set_labels(self, labels: np.ndarray) -> None:
        self.labels = torch.from_numpy(labels).long().to(self.device)
        self.optimizer = torch.optim.SGD(self.params.values(), lr=LR, momentum=MOMENTUM)
        if self.autocast is torch.float16:
            self.scaler = torch.amp.GradScaler(self.device.type)

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        x = self._features(x)
        return self._heads(x) if self.spec.heads else x

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 .. pool5 (NCHW, or channels_last)."""
        p = self.params
        for name, k, stride, _ in CONVS:
            x = _conv(x, p[f"{name}/weights"], p[f"{name}/biases"], k, stride)
            self._tap(name, x)
            if self.spec.lrn and name in LRN_AFTER:
                x = self.lrn(x)
            if name in POOL_AFTER:
                x = _pool(x)
                self._tap(POOL_AFTER[name], x)
        return x

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """fc6 .. fc8 on pool5, flattened in NHWC order as the canonical fc6 weights expect."""
        x = x.permute(0, 2, 3, 1).flatten(1)
        for i, (name, _) in enumerate(FCS):
            x = self._linear(name, x)
            x = F.relu(x) if i < len(FCS) - 1 else x
            self._tap(name, x)
        return x

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """FC layer ``name`` without its ReLU (the hybrid-parallel backend runs its sharded modules here)."""
        return F.linear(x, self.params[f"{name}/weights"], self.params[f"{name}/biases"])

    def _run(self, net: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``net`` on the input in the configured precision; the result in fp32."""
        if self.autocast is None:
            return net(self.images)
        with torch.autocast(self.device.type, dtype=self.autocast):
            return net(self.images).float()

    def forward(self) -> torch.Tensor:
        with torch.no_grad():
            return self._run(self.inference_net)

    def forward_backward(self) -> tuple[torch.Tensor, ...]:
        loss = self._run(self.net).square().sum() / 2
        return torch.autograd.grad(loss, list(self.params.values()))

    def _layer_steps(self, row: Layer, x: torch.Tensor, rng: np.random.Generator):
        """(forward, backward) steps of one layer on input ``x``; ``compile`` compiles each layer alone. The
        backward is ``torch.autograd.grad`` on the graph of one forward taken here, kept with ``retain_graph``,
        so the forward is not recomputed; conv1's input takes no gradient, as in the network."""
        fn = _layer_op(row, self.lrn)
        if self.config.variant == "compile":
            # One function serves every conv, so its compiled graphs (a layer each, with and without grad) share a
            # cache; static shapes, as the network's compile sees them.
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 2 * len(CONVS))
            fn = torch.compile(fn, dynamic=False)
        params = [v for n, v in self.params.items() if n.startswith(f"{row.name}/")]
        inputs = params if row.name == CONVS[0][0] else [x.requires_grad_(True), *params]

        def run():
            with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                return fn(x, *params)

        y = run()
        cotangent = torch.from_numpy(rng.standard_normal(y.shape, np.float32)).to(self.device, y.dtype)

        def forward():
            with torch.no_grad():
                return run()

        return forward, lambda: torch.autograd.grad(y, inputs, cotangent, retain_graph=True)

    def layer_ops(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """(layer, "forward" | "backward", step) for each layer in network order, each alone on a fixed random
        input of its input shape (fc6: the flattened pool5) in this backend's memory format and precision. The
        backward step is the gradient of ``sum(out * fixed random cotangent)`` with respect to the layer's input
        (not conv1's) and parameters, without the forward."""
        rng, rows, ops = np.random.default_rng(0), layer_table(self.spec), []
        for row, shape in zip(rows, [self.spec.input_shape, *(r.output_shape for r in rows)], strict=False):
            x = torch.from_numpy(rng.standard_normal(shape, np.float32))
            x = x.reshape(len(x), -1) if row.kind == "fc" else x.permute(0, 3, 1, 2)
            x = x.contiguous(memory_format=self.memory_format if x.dim() == 4 else torch.contiguous_format)
            x = x.to(self.device, self.autocast if self.autocast and row.name != CONVS[0][0] else torch.float32)
            forward, backward = self._layer_steps(row, x, rng)
            ops += [(row.name, "forward", forward), (row.name, "backward", backward)]
        return ops

    def train_step(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self._run(self.net), self.labels)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss

    def block(self, result) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def output_to_numpy(self, result: torch.Tensor) -> np.ndarray:
        out = result.detach().cpu()
        return (out if self.spec.heads else out.permute(0, 2, 3, 1)).numpy()

    def _canonical(self, tensors) -> dict[str, np.ndarray]:
        arrays = {}
        for name, t in zip(self.params, tensors, strict=True):
            t = t.detach().float().cpu()
            if name.startswith("conv") and name.endswith("/weights"):
                t = t.permute(2, 3, 1, 0)  # OIHW -> HWIO
            elif name.endswith("/weights"):
                t = t.t()
            arrays[name] = t.contiguous().numpy()
        return arrays

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return self._canonical(result)

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        return self._canonical(self.params.values())

    def reset_peak_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_bytes(self) -> int | None:
        return torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else None

    def describe(self) -> dict:
        info = {
            "framework": self.name,
            "framework_version": torch.__version__,
            "device": self.device.type,
            "device_name": "cpu",
            "threads": f"intra={torch.get_num_threads()} interop={torch.get_num_interop_threads()}",
            "allocator": self.allocator,
        }
        if self.device.type == "cuda":
            info |= {"device_name": torch.cuda.get_device_name(self.device), "cuda": torch.version.cuda,
                     "cudnn": torch.backends.cudnn.version(), "cudnn_benchmark": torch.backends.cudnn.benchmark,
                     "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32,
                              "cudnn": torch.backends.cudnn.allow_tf32}}
        return info
