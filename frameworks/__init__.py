"""AlexNet in TensorFlow, PyTorch and JAX/Flax behind one Backend protocol.

Importing this package never imports a framework: the registry names modules, and
``available`` asks ``importlib.util.find_spec`` whether each framework is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass

from .base import Backend, BackendUnavailable, RunConfig, Unsupported
from .spec import ModelSpec, SpecError


@dataclass(frozen=True)
class Entry:
    """A registered backend: where it lives, what it imports, the pip extra to install, its
    execution variants and the layouts it can use inside (the default and native one first).

    ``default`` is what a user gets out of the box, and ``default_label`` says what that is (TensorFlow's
    ``tf.function`` graph mode, PyTorch's eager mode, ``jax.jit``). ``process_wide``: variants whose settings
    reach the whole process (and so any other backend built in it). ``peak_as``: the framework whose kernels
    it runs, whose ceiling is its own. ``backward_runs_forward``: its per-layer backward step runs the layer's
    forward again. ``reference``: what it is when it is a reference beside the frameworks, not one of them.
    ``distributed``: where its data-parallel and hybrid backend lives (frameworks/distributed.py)."""

    target: str
    requires: tuple[str, ...]
    extra: str
    variants: tuple[str, ...] = ("default",)
    layouts: tuple[str, ...] = ("nhwc",)
    process_wide: tuple[str, ...] = ()
    default_label: str = ""
    peak_as: str | None = None
    backward_runs_forward: bool = False
    reference: str | None = None
    distributed: str | None = None


REGISTRY: dict[str, Entry] = {
    "tensorflow": Entry("frameworks.tensorflow_backend:TensorFlowBackend", ("tensorflow",), "tensorflow",
                        ("default", "eager", "xla"), ("nhwc", "nchw"), default_label="graph",
                        backward_runs_forward=True,  # TensorFlowBackend.layer_ops says why
                        distributed="frameworks.tensorflow_distributed:TensorFlowDistributedBackend"),
    "torch": Entry("frameworks.torch_backend:TorchBackend", ("torch",), "torch", ("default", "compile", "tuned"),
                   ("nchw", "nhwc"), process_wide=("tuned",),  # glibc allocator settings, cuDNN autotuning
                   default_label="eager", distributed="frameworks.torch_distributed:TorchDistributedBackend"),
    "jax": Entry("frameworks.jax_backend:JaxBackend", ("jax", "flax"), "jax", ("default", "tuned"), ("nhwc",),
                 default_label="jit", distributed="frameworks.jax_distributed:JaxDistributedBackend"),
    "tf1-seed": Entry("frameworks.tf1_seed_backend:Tf1SeedBackend", ("tensorflow",), "tensorflow", ("session",),
                      ("nhwc",), peak_as="tensorflow", reference="the seed's TF1 program"),
}


def _plugins(text: str) -> dict[str, Entry]:
    """Out-of-tree backends from ``ALEXBENCH_BACKENDS="name=module:Class,..."`` (the tests'
    fault-injecting fakes use this; workers inherit the variable). The class serves distributed cases too, built
    with a fourth argument, the rank's group."""
    entries = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, target = item.partition("=")
        entries[name.strip()] = Entry(target.strip(), (target.split(":")[0].split(".")[0],), name.strip(),
                                      distributed=target.strip())
    return entries


REGISTRY |= _plugins(os.environ.get("ALEXBENCH_BACKENDS", ""))
NAMES = tuple(REGISTRY)


class UnknownBackend(ValueError):
    """A backend name that is not registered."""


def _entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise UnknownBackend(f"unknown framework {name!r}; choose from {', '.join(NAMES)}")
    return REGISTRY[name]


def missing_message(name: str) -> str | None:
    """Why ``name`` cannot run here (with the extra that installs it), or None."""
    entry = _entry(name)
    missing = [m for m in entry.requires if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (f"{name} is not installed (no module {missing[0]!r}); "
            f"install it with: pip install 'alexbench[{entry.extra}]'")


def available() -> list[str]:
    """Registered backends whose frameworks are installed."""
    return [n for n in NAMES if missing_message(n) is None]


def entry(name: str) -> Entry:
    """The registry entry of ``name`` (UnknownBackend lists the valid names)."""
    return _entry(name)


def _load(target: str):
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def backend_class(name: str) -> type[Backend]:
    """Import and return the backend class (imports the framework)."""
    reason = missing_message(name)
    if reason:
        raise BackendUnavailable(reason)
    return _load(_entry(name).target)


def distributed_class(name: str):
    """Import and return the data-parallel and hybrid backend class (frameworks/distributed.py)."""
    reason = missing_message(name)
    if reason:
        raise BackendUnavailable(reason)
    if _entry(name).distributed is None:
        raise Unsupported(f"{name} has no data-parallel backend")
    return _load(_entry(name).distributed)


__all__ = [
    "NAMES", "REGISTRY", "Backend", "BackendUnavailable", "ModelSpec", "RunConfig",
    "SpecError", "UnknownBackend", "available", "backend_class", "distributed_class", "entry", "missing_message",
]
