"""Data-parallel and hybrid-parallel training: what every framework's distributed backend shares.

A distributed case runs as N processes, one rank each, started with the launch conventions the frameworks
already know, set in each rank's environment: torchrun's variables (MASTER_ADDR, MASTER_PORT, RANK,
WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) for every framework, and TF_CONFIG for TensorFlow.
``Group.from_env`` reads them. Each framework's backend joins its own engine (torch.distributed,
jax.distributed, tf.distribute) with them; nothing here communicates.

Parallel schemes (``PARALLEL``):
- ``dp``: every rank holds the whole model and its own batch; gradients are all-reduced and averaged.
- ``hybrid``: Krizhevsky's "one weird trick" (arXiv 1404.5997): the convolutions run data-parallel (their
  gradients all-reduced), the pool5 features of every rank's images are gathered, and the FC heads run
  model-parallel, each rank holding 1/N of the columns of fc6, fc7 and fc8 and their optimizer state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .base import Backend, RunConfig
from .spec import ModelSpec

PARALLEL = ("dp", "hybrid")
# Collectives whose bytes are counted; ``sent_bytes`` says what one rank sends for each.
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter")
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Group:
    """This rank's place in its group, as the launch variables give it."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int
    parallel: str = "dp"
    timeout_s: float = 600.0  # how long a rendezvous or a collective may wait before it fails

    def __post_init__(self):
        if self.parallel not in PARALLEL:
            raise ValueError(f"unknown parallel scheme {self.parallel!r}; choose from {', '.join(PARALLEL)}")
        if not 0 <= self.rank < self.world_size or not 0 <= self.local_rank < self.local_world_size:
            raise ValueError(f"rank {self.rank} of {self.world_size}, local rank {self.local_rank} of "
                             f"{self.local_world_size}: out of range")

    @property
    def coordinator(self) -> str:
        """``host:port`` of rank 0's rendezvous (torch's store, JAX's coordinator service)."""
        return f"{self.master_addr}:{self.master_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, parallel: str = "dp",
                 timeout_s: float = 600.0) -> Group:
        missing = [v for v in LAUNCH_VARIABLES if v not in environ]
        if missing:
            raise ValueError(f"not launched as a rank: {', '.join(missing)} unset")
        return cls(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ["LOCAL_RANK"]),
                   int(environ["LOCAL_WORLD_SIZE"]), environ["MASTER_ADDR"], int(environ["MASTER_PORT"]),
                   parallel, timeout_s)


def tf_config(workers: list[str], index: int) -> str:
    """TF_CONFIG for worker ``index`` of a cluster whose workers listen at ``workers`` (``host:port``)."""
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


@dataclass(frozen=True)
class Collective:
    """One collective of a step. ``nbytes``: the whole tensor it produces (all-reduce: the reduced tensor;
    all-gather: the gathered result; reduce-scatter: its full input)."""

    kind: str
    nbytes: int
    name: str = ""

    def __post_init__(self):
        if self.kind not in COLLECTIVES:
            raise ValueError(f"unknown collective {self.kind!r}; choose from {', '.join(COLLECTIVES)}")

    def sent_bytes(self, world_size: int) -> float:
        """Bytes one rank sends for it in the bandwidth-optimal (ring) algorithm: (N-1)/N of the tensor for a
        gather or a reduce-scatter, twice that for an all-reduce (a reduce-scatter, then an all-gather)."""
        share = (world_size - 1) / world_size * self.nbytes
        return 2 * share if self.kind == "all_reduce" else share


def sent_bytes(collectives: list[Collective], world_size: int) -> float:
    """Bytes one rank sends in a step that runs ``collectives``."""
    return sum(c.sent_bytes(world_size) for c in collectives)


def local_rows(global_batch: np.ndarray, group: Group) -> np.ndarray:
    """Rank r's share of a global batch: rows r*B .. (r+1)*B - 1, B = global rows / world size."""
    per_rank = len(global_batch) // group.world_size
    return global_batch[group.rank * per_rank:(group.rank + 1) * per_rank]


class DistributedBackend(Backend, Protocol):
    """One rank of a ``dp`` or ``hybrid`` group (``group.parallel``), built from the same canonical weights on
    every rank; ``spec.batch_size`` is the per-rank batch (weak scaling: the global batch is N x B).

    ``set_input`` and ``set_labels`` take this rank's rows. ``forward`` is this rank's forward, without
    communication. ``forward_backward`` returns the gradients of the mean over ranks of each rank's
    ``sum(out**2) / 2``, the same on every rank. ``train_step`` is one SGD step (lr 0.01, momentum 0.9) of the
    softmax cross-entropy averaged over the global batch; it needs the heads. ``grads_to_numpy`` and
    ``params_to_numpy`` give whole canonical tensors on every rank (hybrid's shards gathered)."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig, group: Group): ...

    def comm_backend(self) -> str:
        """The engine's transport as the framework names it: ``gloo``, ``nccl``, ``RING``..."""

    def collectives(self, mode: str) -> list[Collective]:
        """What one step of ``mode`` moves between ranks, from the sizes of the tensors each collective moves."""

    def comm_step(self, mode: str) -> Callable[[], Any]:
        """A step that runs only the collectives of one ``mode`` step (same sizes, same engine, these processes):
        for ``dp`` the all-reduce of this model's gradients; ``block`` waits for its result."""

    def gather_floats(self, values: list[float]) -> list[list[float]]:
        """Every rank's ``values`` (the same length on each), in rank order, through the framework's collective."""

    def memory_bytes(self) -> dict[str, int]:
        """``param_bytes`` and ``optimizer_bytes`` this rank holds."""

    def close(self) -> None:
        """Leave the group (destroy the process group, shut the coordinator client down)."""


# What the harness calls of a distributed backend beyond the Backend protocol.
DISTRIBUTED_METHODS = tuple(name for name in vars(DistributedBackend) if not name.startswith("_"))
