"""The Backend protocol every framework implements, and what it is built from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .spec import ModelSpec

DEVICES = ("auto", "cpu", "cuda")


PRECISIONS = ("fp32", "bf16", "fp16")
LAYOUTS = ("nhwc", "nchw")


class BackendUnavailable(RuntimeError):
    """The framework, or the device asked for, is not there."""


class Unsupported(RuntimeError):
    """A combination (precision, variant, layout, device) this framework cannot run."""


@dataclass(frozen=True)
class RunConfig:
    """How to run a model: device, CPU threads (None: the framework's default), TF32 on
    GPU (None: the framework's default; parity turns it off), compute precision
    (``bf16``/``fp16`` are mixed precision: fp32 weights, low-precision compute),
    execution variant and layout inside the backend (the framework's own names, as
    listed in its registry entry; ``default`` and None mean the first of each)."""

    device: str = "auto"
    threads: int | None = None
    tf32: bool | None = None
    precision: str = "fp32"
    variant: str = "default"
    layout: str | None = None

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose from {', '.join(DEVICES)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


class Backend(Protocol):
    """One framework's AlexNet. Results stay on the device until ``to_numpy``.

    The harness calls ``set_input`` once, then ``forward`` or ``forward_backward`` per
    step followed by ``block`` on the result, which returns only when the device work
    is done. Every method below is one the harness calls (``PROTOCOL_METHODS``).
    """

    name: str

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig): ...

    def set_input(self, images: np.ndarray) -> None:
        """Place an NHWC float32 batch on the device (layout conversion happens here)."""

    def forward(self) -> Any:
        """pool5 (NHWC), or the logits with heads."""

    def forward_backward(self) -> Any:
        """Gradients of ``sum(out**2) / 2`` for every parameter."""

    def train_step(self) -> Any:
        """One SGD-with-momentum step (lr 0.01, momentum 0.9) of softmax cross-entropy against
        the labels given to ``set_labels``; updates the parameters; needs the FC heads."""

    def set_labels(self, labels: np.ndarray) -> None:
        """Place int32 class labels [B] on the device for ``train_step``."""

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        """The current parameters in canonical names and layouts."""

    def block(self, result: Any) -> None:
        """Wait until all device work producing ``result`` has finished."""

    def output_to_numpy(self, result: Any) -> np.ndarray:
        """forward's result as NHWC (or logits) NumPy."""

    def grads_to_numpy(self, result: Any) -> dict[str, np.ndarray]:
        """forward_backward's result in canonical names and layouts."""

    def reset_peak_memory(self) -> None:
        """Start a new device-memory peak (no-op on CPU)."""

    def peak_memory_bytes(self) -> int | None:
        """The framework allocator's peak on GPU; None on CPU (the harness uses RSS)."""

    def describe(self) -> dict[str, Any]:
        """framework, framework_version, device (name), and the thread settings in force."""

    def layer_ops(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """(layer, "forward" | "backward", step) for every layer in network order, each timed alone
        (``alexbench run --per-layer``); raise ``Unsupported`` where the backend has none."""

    def activation_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(layer, NHWC shape) for every conv, pool and FC layer, as the backend computes them."""


PROTOCOL_METHODS = tuple(name for name in vars(Backend) if not name.startswith("_"))
