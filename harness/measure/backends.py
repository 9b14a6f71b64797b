"""Building a case's backend inside a worker, and what the worker says about it and its memory."""

from __future__ import annotations

import resource

import numpy as np

from frameworks import RunConfig, backend_class, distributed_class
from frameworks.distributed import Group
from frameworks.weights import canonical_weights, load_weights, random_images, random_labels
from harness.core.cases import Case

from .threads import usable_cores


def seed_inputs(case: Case, weights_path: str | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The case's weights (a ``--weights`` file, or the canonical ones from its seed) and its fixed batch."""
    spec = case.spec
    weights = load_weights(weights_path, spec) if weights_path else canonical_weights(spec, case.seed)
    return weights, random_images(spec, case.seed)


def build(case: Case, weights: dict[str, np.ndarray], images: np.ndarray, tf32: bool | None = None,
          labels: np.ndarray | None = None, group: Group | None = None):
    """The case's backend with its input (and, for ``train_step``, its labels: the fixed ones unless given) in
    place; TF32 as the case says unless ``tf32`` is given. With ``group``: the framework's distributed backend,
    as that rank of the group (``images`` and ``labels``: the rank's rows)."""
    layout = None if case.layout == "native" else case.layout
    config = RunConfig(case.device, case.threads, case.tf32 if tf32 is None else tf32, case.precision,
                       case.variant, layout)
    if group is None:
        backend = backend_class(case.framework)(case.spec, weights, config)
    else:
        backend = distributed_class(case.framework)(case.spec, weights, config, group)
    backend.set_input(images)
    if case.mode == "train_step":
        backend.set_labels(random_labels(case.spec, case.seed) if labels is None else labels)
    return backend


def describe(backend) -> dict:
    """The backend's own description, with the cores this process may use."""
    info = backend.describe()
    info["threads"] += f" cores={len(usable_cores())}"
    return info


def _status_bytes(field: str) -> int | None:
    """A ``kB`` line of /proc/self/status, in bytes (None where there is no such file or line)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set: VmHWM. (``getrusage``'s ru_maxrss keeps the peak of the process image
    before ``exec`` too: a worker started by a 300 MiB parent reports 300 MiB there.)"""
    peak = _status_bytes("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_bytes() -> int:
    """This process's resident set now (its peak where /proc does not say)."""
    rss = _status_bytes("VmRSS")
    return rss if rss is not None else peak_rss_bytes()


def _reset_rss_peak() -> bool:
    """Start VmHWM again from the resident set now (Linux's /proc/self/clear_refs); whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class MemoryWatch:
    """What a case's steps need, watched from just before the first step to after the last.

    On GPU the framework allocator's peak, reset first (then it starts at what is in use). On CPU the process's
    resident set: its peak so far (building the model included), then the peak from the first step on, against
    the resident set just before it."""

    def __init__(self, backend):
        self.backend = backend
        backend.reset_peak_memory()
        self.device_before = backend.peak_memory_bytes()
        self.build_peak = peak_rss_bytes()
        self.before = rss_bytes() if _reset_rss_peak() else self.build_peak

    def bytes(self) -> tuple[int, int]:
        """(peak_mem_bytes, step_mem_bytes)."""
        if self.device_before is not None:
            peak = self.backend.peak_memory_bytes()
            return peak, max(peak - self.device_before, 0)
        steps_peak = peak_rss_bytes()
        return max(self.build_peak, steps_peak), max(steps_peak - self.before, 0)
