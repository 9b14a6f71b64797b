"""AlexNet in PyTorch: eager (the ``default`` variant) or ``torch.compile``, NCHW (native) or
channels_last (``nhwc``).

TF SAME padding is asymmetric for stride 4 on 224 (3 before, 4 after), which
``Conv2d(padding=...)`` cannot express, so each conv pads explicitly with ``F.pad``.
PyTorch's ``local_response_norm`` divides alpha by ``size``; size = 2r+1 = 9 and
alpha = 0.001 give TF's alpha = 0.001 / 9 over the same window. Mixed precision is
PyTorch's idiom, ``torch.autocast`` (weights stay fp32); fp16 training uses a GradScaler.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import BackendUnavailable, RunConfig, Unsupported
from .spec import CONVS, FCS, LRN_AFTER, LRN_ALPHA, LRN_BETA, LRN_BIAS, LRN_RADIUS, POOL_AFTER, ModelSpec, same_pads

LRN_SIZE = 2 * LRN_RADIUS + 1
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
LR, MOMENTUM = 0.01, 0.9


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
        if config.variant not in ("default", "compile"):
            raise Unsupported(f"torch has no variant {config.variant!r}")
        if config.threads is not None:
            torch.set_num_threads(config.threads)
            torch.set_num_interop_threads(config.threads)
        self.device = _device(config.device)
        if self.device.type == "cuda" and config.tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = config.tf32
            torch.backends.cudnn.allow_tf32 = config.tf32
        self.memory_format = torch.channels_last if config.layout == "nhwc" else torch.contiguous_format
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
        p = self.params
        for name, k, stride, _ in CONVS:
            top, bottom = same_pads(x.shape[2], k, stride)
            left, right = same_pads(x.shape[3], k, stride)
            x = F.pad(x, (left, right, top, bottom))
            x = F.relu(F.conv2d(x, p[f"{name}/weights"], p[f"{name}/biases"], stride=stride))
            self._tap(name, x)
            if self.spec.lrn and name in LRN_AFTER:
                x = F.local_response_norm(x, LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_BIAS)
            if name in POOL_AFTER:
                x = F.max_pool2d(x, 3, 2)
                self._tap(POOL_AFTER[name], x)
        if not self.spec.heads:
            return x
        x = x.permute(0, 2, 3, 1).flatten(1)  # NHWC order, as the canonical fc6 weights expect
        for i, (name, _) in enumerate(FCS):
            x = F.linear(x, p[f"{name}/weights"], p[f"{name}/biases"])
            if i < len(FCS) - 1:
                x = F.relu(x)
            self._tap(name, x)
        return x

    def _run(self) -> torch.Tensor:
        """The network in the configured precision; the result in fp32."""
        if self.autocast is None:
            return self.net(self.images)
        with torch.autocast(self.device.type, dtype=self.autocast):
            return self.net(self.images).float()

    def forward(self) -> torch.Tensor:
        with torch.no_grad():
            return self._run()

    def forward_backward(self) -> tuple[torch.Tensor, ...]:
        loss = self._run().square().sum() / 2
        return torch.autograd.grad(loss, list(self.params.values()))

    def train_step(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self._run(), self.labels)
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
        }
        if self.device.type == "cuda":
            info |= {"device_name": torch.cuda.get_device_name(self.device), "cuda": torch.version.cuda,
                     "cudnn": torch.backends.cudnn.version(),
                     "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32,
                              "cudnn": torch.backends.cudnn.allow_tf32}}
        return info
