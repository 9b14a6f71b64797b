"""AlexNet data-parallel (``dp``) and hybrid-parallel (``hybrid``) in PyTorch, on TorchBackend's network.

One process per rank joins ``torch.distributed`` with torchrun's variables (``init_method="env://"``): gloo on
CPU, NCCL on CUDA (device = LOCAL_RANK).

- ``dp``: ``DistributedDataParallel`` around a module holding every canonical parameter; DDP averages the
  gradients over ranks in buckets (1 MiB first, then 25 MiB, in the order gradients become ready), each bucket's
  all-reduce started while the backward still runs.
- ``hybrid`` (Krizhevsky, arXiv 1404.5997): the convolutions under DDP; fc6, fc7, fc8 ``nn.Linear`` modules
  sharded over a 1-D ``DeviceMesh`` by ``parallelize_module``. The plan (``HEAD_PLAN``) moves the fewest bytes of
  those that start from gathered pool5 features. Per global row, in floats a rank sends (N-1)/N of (an all-reduce
  counts twice), F = 9216 pool5 features at 224 px:
    fc6 ``ColwiseParallel(input_layouts=Shard(0))``: all-gathers every rank's features (F) and holds 1/N of fc6's
      output columns; backward reduce-scatters the features' gradient back to their ranks (F).
    fc7 ``RowwiseParallel(output_layouts=Shard(-1))``: takes fc6's output shards as they are (1/N of fc7's input
      rows); its partial sums are reduce-scattered to 1/N of fc7's outputs (4096), all-gathered in backward (4096).
    fc8 ``RowwiseParallel(output_layouts=Replicate())``: takes fc7's shards as they are; its partial logits are
      all-reduced (2 x 1000), so every rank holds the global batch's logits and computes the same loss, whose
      gradient then needs no collective.
  2F + 10,192 = 28,624 in all, against 2F + 17,384 for colwise fc6-fc8, or for Megatron's colwise-rowwise-colwise,
  with the logits all-gathered (1000 less with ``loss_parallel``). gloo has no reduce-scatter (it all-reduces the
  whole tensor and keeps a shard): 3F + 14,288 there, still the fewest (Megatron's: 3F + 17,384). Rowwise keeps fc7's
  and fc8's biases whole on every rank (5,096 floats). Each rank's features get their share of the global loss's
  gradient; DDP divides by N, so they are scaled by N first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Replicate, Shard
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module
from torch.nn.parallel import DistributedDataParallel

from .base import RunConfig, Unsupported
from .distributed import Collective, Group
from .spec import FCS, ModelSpec
from .torch_backend import TorchBackend, _device

HEAD_PLAN = {
    "fc6": ColwiseParallel(input_layouts=Shard(0)),
    "fc7": RowwiseParallel(output_layouts=Shard(-1)),
    "fc8": RowwiseParallel(output_layouts=Replicate()),
}
# The activations one hybrid step moves, as (kind, name, floats per global row) in the order they run.
HEAD_FORWARD = (("all_gather", "pool5", None), ("reduce_scatter", "fc7", FCS[1][1]), ("all_reduce", "fc8", FCS[2][1]))
HEAD_BACKWARD = (("all_gather", "fc7.grad", FCS[1][1]), ("reduce_scatter", "pool5.grad", None))


class _Net(nn.Module):
    """A backend's network function as a module owning the backend's parameters, for DDP."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], params: dict[str, torch.Tensor]):
        super().__init__()
        self.fn = fn
        for name, value in params.items():
            self.register_parameter(name, nn.Parameter(value.detach()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of ``t`` (a DTensor's shard, or ``t`` itself)."""
    return t.to_local() if isinstance(t, DTensor) else t


def _whole(t: torch.Tensor) -> torch.Tensor:
    """The whole of ``t`` on every rank (a DTensor's shards gathered)."""
    return t.full_tensor() if isinstance(t, DTensor) else t


class TorchDistributedBackend(TorchBackend):
    """One rank of a ``dp`` or ``hybrid`` group. Variants: ``default``, ``tuned``, and ``compile`` without the heads
    (``torch.compile`` of the DDP module: Dynamo's DDPOptimizer splits the graph at the bucket boundaries)."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig, group: Group):
        hybrid = group.parallel == "hybrid" and spec.heads  # without heads, hybrid is dp over the convolutions
        if config.variant == "compile" and spec.heads:
            raise Unsupported("torch compile with the FC heads: torch 2.13's Inductor (CPU) returns zero gradients for "
                              "conv weights held as nn.Parameter (as DDP needs them) ahead of ReLU, max-pool and a "
                              "linear layer")
        if hybrid and config.precision == "fp16":
            raise Unsupported("torch hybrid fp16: GradScaler cannot unscale DTensor and plain gradients together")
        device = _device(config.device)
        if device.type == "cuda":
            device = torch.device("cuda", group.local_rank)
            torch.cuda.set_device(device)
        self.owns_group = not dist.is_initialized()  # a process that already joined keeps its group
        if self.owns_group:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://",
                                    rank=group.rank, world_size=group.world_size,
                                    timeout=timedelta(seconds=group.timeout_s),
                                    device_id=device if device.type == "cuda" else None)
        super().__init__(spec, weights, config)
        self.device, self.group, self.hybrid = device, group, hybrid
        self.heads = nn.ModuleDict()
        if hybrid:
            mesh = init_device_mesh(device.type, (group.world_size,))
            for name, _ in FCS:
                weight, bias = self.params[f"{name}/weights"], self.params[f"{name}/biases"]
                linear = nn.Linear(weight.shape[1], weight.shape[0], device="meta")
                linear.weight, linear.bias = nn.Parameter(weight.detach()), nn.Parameter(bias.detach())
                self.heads[name] = parallelize_module(linear, mesh, HEAD_PLAN[name])
                self.params[f"{name}/weights"], self.params[f"{name}/biases"] = linear.weight, linear.bias
        data_parallel = {n: p for n, p in self.params.items() if not isinstance(p, DTensor)}
        module = _Net(self._features if hybrid else self._net, data_parallel)
        self.params.update(module.named_parameters())
        self.ddp = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
        self._bucket_bytes: list[int] | None = None
        self.net = self._hybrid_net if hybrid else self.ddp
        if config.variant == "compile":
            self.net = torch.compile(self.net)

    # the network

    def _hybrid_net(self, x: torch.Tensor) -> torch.Tensor:
        features = self.ddp(x)
        if features.requires_grad:  # each rank's share of the global loss's gradient; DDP will divide it by N
            features.register_hook(functools.partial(torch.mul, other=self.group.world_size))
        return self._heads(features)

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.heads[name](x) if self.hybrid else super()._linear(name, x)

    def _local_rows(self, out: torch.Tensor) -> torch.Tensor:
        """This rank's rows of the hybrid heads' global logits."""
        b = self.spec.batch_size
        return out[self.group.rank * b:(self.group.rank + 1) * b] if self.hybrid else out

    def set_labels(self, labels: np.ndarray) -> None:
        super().set_labels(labels)
        if self.hybrid:  # the heads see the global batch: gather every rank's labels, once
            gathered = self.labels.new_empty(self.group.world_size * len(self.labels))
            dist.all_gather_single(gathered, self.labels)
            self.labels = gathered

    def forward(self) -> torch.Tensor:
        """This rank's output; hybrid's heads run on every rank's features, as in training."""
        return self._local_rows(super().forward())

    def forward_backward(self) -> tuple[torch.Tensor, ...]:
        """Gradients of the mean over ranks of each rank's ``sum(out**2) / 2`` (DDP and the heads, not
        ``autograd.grad``: DDP's all-reduce runs from the parameters' gradient-accumulation hooks)."""
        for p in self.params.values():
            p.grad = None
        out = self._run(self.net)
        loss = out.square().sum() / 2
        (loss / self.group.world_size if self.hybrid else loss).backward()  # hybrid's out holds every rank's rows
        return tuple(p.grad for p in self.params.values())

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return self._canonical([_whole(g) for g in result])

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        return self._canonical([_whole(p) for p in self.params.values()])

    # communication

    def comm_backend(self) -> str:
        return str(dist.get_backend())

    def _buckets(self) -> list[int]:
        """Bytes of each of DDP's all-reduce buckets. DDP reduces everything in one bucket in its first step, then
        rebuilds its buckets (1 MiB first, then 25 MiB) in the order the gradients became ready: once rebuilt, its
        own buckets; before, the same assignment over the parameters in reverse order (the same total)."""
        if self.ddp._has_rebuilt_buckets:
            if self._bucket_bytes is None:  # fixed from now on; asking allocates zeros of every bucket's size
                self._bucket_bytes = [b.buffer().nbytes for b in self.ddp.reducer._get_zeros_like_grad_buckets()]
            return self._bucket_bytes
        params = list(reversed(list(self.ddp.parameters())))
        limits = [self.ddp._bucket_config.first_bucket_bytes_cap, self.ddp.bucket_bytes_cap]
        indices, _ = dist._compute_bucket_assignment_by_size(params, limits, [False] * len(params))
        return [sum(params[i].nbytes for i in bucket) for bucket in indices]

    def _comm_ops(self, mode: str) -> list[tuple[str, str, int]]:
        """(torch.distributed op, name, bytes of the whole tensor) of each collective of one ``mode`` step, in order:
        hybrid's activations (forward, then backward), then DDP's buckets (not in forward)."""
        if mode not in ("forward", "forward_backward", "train_step"):
            raise ValueError(f"unknown mode {mode!r}")
        rows, width = self.group.world_size * self.spec.batch_size, self.spec.pool5_features
        heads = (HEAD_FORWARD + (HEAD_BACKWARD if mode != "forward" else ())) if self.hybrid else ()
        ops = [(op, name, rows * (n or width) * 4) for op, name, n in heads]
        buckets = self._buckets() if mode != "forward" else []
        return ops + [("all_reduce", f"ddp bucket {i}", n) for i, n in enumerate(buckets)]

    def collectives(self, mode: str) -> list[Collective]:
        """gloo has no reduce-scatter: it all-reduces the whole tensor and keeps a shard, so it is counted as that."""
        gloo = self.comm_backend() == "gloo"
        return [Collective("all_reduce" if gloo and op == "reduce_scatter" else op, nbytes, name)
                for op, name, nbytes in self._comm_ops(mode)]

    def comm_step(self, mode: str) -> Callable[[], list[torch.Tensor]]:
        """The collectives of one ``mode`` step on buffers of their sizes, through the same process group: the
        heads' gathers and reductions one after another (each waits for the layer before), then DDP's buckets
        all started before any is waited for, as its backward does."""
        buffers = []
        for op, name, nbytes in self._comm_ops(mode):
            whole = torch.zeros(nbytes // 4, device=self.device)
            buffers.append((op, name, whole, whole.new_zeros(whole.numel() // self.group.world_size)))

        def step() -> list[torch.Tensor]:
            pending = []
            for op, name, whole, shard in buffers:
                if op == "all_gather":
                    dist.all_gather_single(whole, shard)
                elif op == "reduce_scatter":
                    dist.reduce_scatter_single(shard, whole)
                elif name.startswith("ddp"):
                    pending.append(dist.all_reduce(whole, async_op=True))
                else:
                    dist.all_reduce(whole)
            for work in pending:
                work.wait()
            return [whole for _, _, whole, _ in buffers]

        return step

    def gather_floats(self, values: list[float]) -> list[list[float]]:
        if not values:
            return [[] for _ in range(self.group.world_size)]
        mine = torch.tensor(values, dtype=torch.float64, device=self.device)
        every = mine.new_empty(self.group.world_size * len(values))
        dist.all_gather_single(every, mine)
        return every.view(self.group.world_size, -1).tolist()

    def memory_bytes(self) -> dict[str, int]:
        state = self.optimizer.state.values() if self.optimizer else ()
        momenta = [s["momentum_buffer"] for s in state if s.get("momentum_buffer") is not None]
        return {"param_bytes": sum(_local(p).nbytes for p in self.params.values()),
                "optimizer_bytes": sum(_local(m).nbytes for m in momenta)}

    def describe(self) -> dict:
        return super().describe() | {"parallel": self.group.parallel, "world_size": self.group.world_size,
                                     "rank": self.group.rank, "comm_backend": self.comm_backend()}

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
