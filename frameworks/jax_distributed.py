"""JAX data-parallel and hybrid-parallel AlexNet: one jitted step over a Mesh of every process's devices.

The processes join with ``jax.distributed.initialize`` (CPU collectives through gloo, GPU through NCCL), and
one Mesh with a single axis, ``data``, spans every process's devices in rank order. The global batch is one
array sharded along that axis, made from each rank's rows (``jax.make_array_from_process_local_data``).

- ``dp``: every parameter replicated; the step's outputs (gradients, or the new parameters and optimizer
  state) are replicated too, so XLA's SPMD partitioner inserts the all-reduce of the gradients.
- ``hybrid`` (Krizhevsky, arXiv 1404.5997): the convolutions are the single-process ``AlexNet`` (heads off),
  batch-sharded and data-parallel as in ``dp``; the FC heads run under ``jax.shard_map``: each rank holds 1/N
  of the columns of fc6, fc7, fc8 (kernels ``P(None, "data")``, biases ``P("data")``, and their momentum),
  ``all_gather`` collects every rank's pool5 rows and then the columns of each FC output, and the activation
  gradients go back reduce-scattered (JAX's transpose of ``all_gather``; on gloo all-reduced, then sliced, see
  ``_gather_sum_grads``). No FC weight gradient is communicated. ``forward`` therefore communicates in hybrid
  (the three gathers), and its logits stay column-sharded until ``output_to_numpy``.

``collectives(mode)`` reads the compiled step's HLO: what XLA really moves, not what it was asked to. Every
step is compiled ahead of time for the global shapes, once, and that executable is what runs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .base import RunConfig, Unsupported
from .distributed import Collective, Group
from .jax_backend import AlexNet, JaxBackend, _layer_op  # sets XLA_PYTHON_CLIENT_PREALLOCATE before any backend
from .spec import FCS, ModelSpec, layer_table

AXIS = "data"
# XLA's CPU collectives, in multiples of the group's timeout: a collective whose peer never comes raises after
# one (gloo: "Timed out waiting ... for send operation"), and a call stuck past two ends the process (a
# backstop). Unset, a stuck one outlasted 200 s here.
COLLECTIVE_TIMEOUT_FLAGS = {"xla_cpu_collective_timeout_seconds": 1,
                            "xla_cpu_collective_call_terminate_timeout_seconds": 2}
# HLO opcode -> Collective kind; any other cross-device opcode in a step is an error (it would go uncounted).
HLO_KINDS = {"all-reduce": "all_reduce", "all-gather": "all_gather", "reduce-scatter": "reduce_scatter"}
_HLO_OP = re.compile(r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<result>.*?)\s*"
                     r"(?P<op>all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute|collective-broadcast|"
                     r"ragged-all-to-all)(?P<suffix>-start|-done)?\((?P<operands>.*)$")
_HLO_SHAPE = re.compile(r"\b(pred|[a-z]+\d+(?:e\d+m\d+\w*)?)\[([\d,]*)\]")


def join(group: Group, device: str) -> None:
    """``jax.distributed.initialize`` for this rank, once per process and before any array exists; every wait
    (rendezvous, topology exchange, a dead peer's missing heartbeats, shutdown) bounded by ``group.timeout_s``."""
    if jax.distributed.is_initialized():
        return
    seconds = max(1, math.ceil(group.timeout_s))
    # read when the CPU client is made, which initialize() leaves until the first array or device query
    flags = os.environ.get("XLA_FLAGS", "")
    for flag, multiple in COLLECTIVE_TIMEOUT_FLAGS.items():
        if f"--{flag}=" not in flags:
            flags += f" --{flag}={multiple * seconds}"
    os.environ["XLA_FLAGS"] = flags.strip()
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # the default since 0.5.1; made explicit
    jax.config.update("jax_cpu_get_local_topology_timeout_minutes", max(1, math.ceil(seconds / 60)))
    jax.config.update("jax_cpu_get_global_topology_timeout_minutes", max(1, math.ceil(seconds / 60)))
    jax.distributed.initialize(
        coordinator_address=group.coordinator, num_processes=group.world_size, process_id=group.rank,
        # one GPU per rank, LOCAL_RANK's (the CPU platform ignores it)
        local_device_ids=None if device == "cpu" else [group.local_rank],
        cluster_detection_method="deactivate", coordinator_bind_address=group.coordinator,
        initialization_timeout=seconds, heartbeat_timeout_seconds=seconds, shutdown_timeout_seconds=seconds)


def hlo_collectives(hlo: str) -> list[Collective]:
    """The collectives of a compiled HLO module, one per instruction (a combined all-reduce of several tensors
    is one), with ``Collective``'s byte convention: the reduced or gathered result, a reduce-scatter's input
    (its result times its group's size)."""
    found = []
    for line in hlo.splitlines():
        m = _HLO_OP.match(line)
        if not m or m["suffix"] == "-done":
            continue
        if m["op"] not in HLO_KINDS or m["suffix"]:
            raise NotImplementedError(f"cannot count the HLO collective {m['op']}{m['suffix'] or ''}: {line.strip()}")
        nbytes = sum(math.prod(int(d) for d in dims.split(",") if d) * _itemsize(dtype)
                     for dtype, dims in _HLO_SHAPE.findall(m["result"]))
        if m["op"] == "reduce-scatter":
            nbytes *= _group_size(line)
        found.append(Collective(HLO_KINDS[m["op"]], nbytes, m["name"]))
    return found


def _group_size(line: str) -> int:
    """Devices in each replica group of an HLO collective: ``{{0,1},{2,3}}``, ``[2,2]<=[4]`` (iota: groups of 2)
    or ``mesh['x'=2,'y'=4] {'y'}`` (the named axes' sizes multiplied)."""
    if m := re.search(r"replica_groups=\{\{([\d,]*)\}", line):
        return len(m[1].split(","))
    if m := re.search(r"replica_groups=\[[\d,]*?(\d+)\]<=", line):
        return int(m[1])
    if m := re.search(r"replica_groups=mesh\[([^\]]*)\]\s*\{([^}]*)\}", line):
        sizes = {k: int(v) for k, v in re.findall(r"'(\w+)'=(\d+)", m[1])}
        return math.prod(sizes[k] for k in re.findall(r"'(\w+)'", m[2]))
    raise NotImplementedError(f"cannot read the replica groups of {line.strip()}")


def _itemsize(hlo_type: str) -> int:
    """Bytes per element of an HLO type (``f32``, ``bf16``, ``s32``, ``pred``, ``f8e4m3fn``...)."""
    return 1 if hlo_type == "pred" else int(re.search(r"\d+", hlo_type)[0]) // 8


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _gather_sum_grads(x, axis: int):
    """``all_gather`` along ``axis`` whose gradient is all-reduced, then sliced to this rank's part: the same
    values as ``all_gather``'s own transpose, a reduce-scatter, at twice its bytes. For gloo, whose reduce-scatter
    in this XLA leaves its connections slow (a later 40 MB all-gather: 0.3 s before one, 14 s after)."""
    return lax.all_gather(x, AXIS, axis=axis, tiled=True)


def _gather_sum_grads_fwd(x, axis: int):
    return _gather_sum_grads(x, axis), None


def _gather_sum_grads_bwd(axis: int, _, cotangent):
    size = cotangent.shape[axis] // lax.psum(1, AXIS)
    return (lax.dynamic_slice_in_dim(lax.psum(cotangent, AXIS), lax.axis_index(AXIS) * size, size, axis),)


_gather_sum_grads.defvjp(_gather_sum_grads_fwd, _gather_sum_grads_bwd)


class _HybridModel:
    """The seed network with model-parallel heads: ``AlexNet``'s convolutions (heads off) on the batch-sharded
    global batch, then fc6, fc7, fc8 (the single-process layer ops at 1/N of the columns) under ``shard_map``.
    Same ``apply(variables, x)`` as a Linen module, so ``JaxBackend``'s losses and steps take it unchanged."""

    def __init__(self, spec: ModelSpec, network: AlexNet, mesh: Mesh, reduce_scatter: bool):
        self.dtype, n = network.dtype, mesh.size
        self.gather = functools.partial(lax.all_gather, axis_name=AXIS, tiled=True) if reduce_scatter else \
            lambda x, axis: _gather_sum_grads(x, axis)
        self.trunk = network.clone(heads=False)
        rows = [r for r in layer_table(spec) if r.kind == "fc"]
        self.ops = [(r.name, _layer_op(dataclasses.replace(r, output_shape=(r.output_shape[0], r.output_shape[1] // n)),
                                       self.dtype)) for r in rows]
        specs = {name: {"kernel": P(None, AXIS), "bias": P(AXIS)} for name, _ in self.ops}
        self.heads = jax.shard_map(self._local_heads, mesh=mesh, in_specs=(P(AXIS), specs), out_specs=P(None, AXIS))

    def _local_heads(self, x, params):
        """This rank's columns of every head for every rank's images: gather the pool5 rows, then before fc7 and
        fc8 the previous layer's columns; the backward reduce-scatters the activation gradients (gloo: all-reduces
        them and keeps this rank's part)."""
        x = self.gather(x, axis=0)
        for i, (name, op) in enumerate(self.ops):
            if i:
                x = self.gather(x, axis=1)
            x = op(x, params[name])
        return x

    def apply(self, variables, x):
        params = variables["params"]
        heads = {name for name, _ in self.ops}
        x = self.trunk.apply({"params": {k: v for k, v in params.items() if k not in heads}}, x)
        x = x.reshape(x.shape[0], -1).astype(self.dtype)
        return self.heads(x, {name: params[name] for name in heads}).astype(jnp.float32)


class JaxDistributedBackend(JaxBackend):
    """One rank of a ``dp`` or ``hybrid`` group; the single-process backend's network, losses and steps, jitted
    over the group's Mesh with explicit shardings."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig, group: Group):
        join(group, config.device)
        super().__init__(spec, weights, config)
        self.group = group
        devices = sorted(jax.devices(self.device.platform), key=lambda d: (d.process_index, d.id))
        if devices[0].process_index != 0 or jax.process_index() != group.rank:
            raise RuntimeError(f"jax process index {jax.process_index()} is not rank {group.rank}")
        self.mesh = Mesh(np.array(devices), (AXIS,))
        self.rows = NamedSharding(self.mesh, P(AXIS))
        self.replicated = NamedSharding(self.mesh, P())
        self.hybrid = group.parallel == "hybrid" and spec.heads
        if self.hybrid:
            uneven = [name for name, out in FCS if out % self.mesh.size]
            if uneven:
                raise Unsupported(f"hybrid: {', '.join(uneven)} cannot be split into {self.mesh.size} equal column "
                                  "shards")
            self.model = _HybridModel(spec, self.model, self.mesh, reduce_scatter=self.comm_backend() != "gloo")
        self.param_shardings = {"params": {layer: {field: self._sharding(layer, field) for field in fields}
                                           for layer, fields in self.params["params"].items()}}
        self.params = jax.tree.map(_global, self.params, self.param_shardings)
        opt_shape = jax.eval_shape(self.optimizer.init, self.params)
        self.opt_shardings = optax.tree_utils.tree_map_params(self.optimizer, lambda _, s: s, opt_shape,
                                                              self.param_shardings,
                                                              transform_non_params=lambda _: self.replicated)
        # hybrid's logits stay column-sharded, as the heads leave them (to rows would be an all-to-all)
        self.output_sharding = NamedSharding(self.mesh, P(None, AXIS)) if self.hybrid else self.rows
        self._forward = _AheadOfTime(self.jit(self.model.apply, out_shardings=self.output_sharding),
                                     lambda: (self._abstract_params(), self._abstract_batch()))
        self._forward_backward = _AheadOfTime(self.jit(jax.grad(self._l2_loss), out_shardings=self.param_shardings),
                                              lambda: (self._abstract_params(), self._abstract_batch()))
        self._train = _AheadOfTime(
            self.jit(self._train_step, donate_argnums=(0, 1),
                     out_shardings=(self.param_shardings, self.opt_shardings, self.replicated)),
            lambda: (self._abstract_params(), self._abstract_opt(), self._abstract_batch(), self._abstract_labels()))
        self._replicate = jax.jit(lambda tree: tree, out_shardings=self.replicated)
        self._init_opt = jax.jit(self.optimizer.init, out_shardings=self.opt_shardings)
        self.steps = {"forward": self._forward, "forward_backward": self._forward_backward, "train_step": self._train}

    def _sharding(self, layer: str, field: str) -> NamedSharding:
        """FC columns split over the mesh in hybrid (kernels (in, out), biases (out,)); everything else whole."""
        if self.hybrid and layer in dict(FCS):
            return NamedSharding(self.mesh, P(None, AXIS) if field == "kernel" else P(AXIS))
        return self.replicated

    def _l2_loss(self, params, x):
        """The mean over ranks of each rank's ``sum(out**2) / 2``: the global batch's sum over N."""
        return super()._l2_loss(params, x) / self.mesh.size

    def set_input(self, images: np.ndarray) -> None:
        self.images = jax.make_array_from_process_local_data(self.rows, np.asarray(images))

    def set_labels(self, labels: np.ndarray) -> None:
        self.labels = jax.make_array_from_process_local_data(self.rows, np.asarray(labels))
        self.opt_state = self._init_opt(self.params)

    def _abstract_batch(self, dtype=jnp.float32, shape=None) -> jax.ShapeDtypeStruct:
        """The global batch as the step sees it: N x B rows, sharded along the mesh."""
        shape = self.spec.input_shape[1:] if shape is None else shape
        return jax.ShapeDtypeStruct((self.mesh.size * self.spec.batch_size, *shape), dtype, sharding=self.rows)

    def _abstract_labels(self) -> jax.ShapeDtypeStruct:
        return self._abstract_batch(jnp.int32, ())

    def _abstract_params(self):
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), self.params)

    def _abstract_opt(self):
        return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                            jax.eval_shape(self.optimizer.init, self.params), self.opt_shardings)

    def compiled_hlo(self, mode: str) -> str:
        """The optimized HLO of the executable that runs ``mode``."""
        if mode not in self.steps:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(self.steps)}")
        return self.steps[mode].compiled.as_text()

    def collectives(self, mode: str) -> list[Collective]:
        """The compiled step's collectives; none on one device (XLA keeps shard_map's gathers there: no-ops)."""
        found = hlo_collectives(self.compiled_hlo(mode))
        return found if self.mesh.size > 1 else []

    def comm_step(self, mode: str) -> Callable[[], Any]:
        """The step's collectives alone, the same sizes in the same order: one compiled ``shard_map`` on float32
        buffers, XLA free to combine them as it combined the step's (its executable: ``.func.compiled``)."""
        plan, n = self.collectives(mode), self.mesh.size
        if not plan:
            return lambda: None
        ops = {"all_reduce": lambda b: lax.psum(b, AXIS),
               "all_gather": lambda b: lax.all_gather(b, AXIS, axis=1, tiled=True),
               "reduce_scatter": lambda b: lax.psum_scatter(b, AXIS, scatter_dimension=1, tiled=True)}
        # float32 elements per rank: an all-gather's input is 1/N of what it gathers, a reduce-scatter's divisible by N
        per_rank = {"all_reduce": lambda e: e, "all_gather": lambda e: -(-e // n),
                    "reduce_scatter": lambda e: -(-e // n) * n}
        sizes = [per_rank[c.kind](-(-c.nbytes // 4)) for c in plan]

        def local(*buffers):
            return [ops[c.kind](b) for c, b in zip(plan, buffers, strict=True)]

        buffers = [jax.jit(lambda s=s: jnp.ones((n, s), jnp.float32), out_shardings=self.rows)() for s in sizes]
        step = _AheadOfTime(jax.jit(jax.shard_map(local, mesh=self.mesh, in_specs=P(AXIS), out_specs=P(AXIS))),
                            lambda: buffers)
        return functools.partial(step, *buffers)

    def comm_backend(self) -> str:
        if self.device.platform == "cpu":
            return str(jax.config.jax_cpu_collectives_implementation)
        return {"gpu": "nccl", "cuda": "nccl", "rocm": "rccl"}.get(self.device.platform, self.device.platform)

    def gather_floats(self, values: list[float]) -> list[list[float]]:
        """Every rank's floats through ``process_allgather``, as pairs of uint32 words: exact without x64."""
        words = np.ascontiguousarray(np.asarray(values, np.float64)).view(np.uint32)
        gathered = np.asarray(multihost_utils.process_allgather(words))
        return [np.ascontiguousarray(row).view(np.float64).tolist() for row in gathered]

    def memory_bytes(self) -> dict[str, int]:
        opt = self.opt_state if self.opt_state is not None else jax.eval_shape(self.optimizer.init, self.params)
        return {"param_bytes": _local_bytes(self.params, self.param_shardings),
                "optimizer_bytes": _local_bytes(opt, self.opt_shardings)}

    def output_to_numpy(self, result) -> np.ndarray:
        """This rank's rows of ``forward``'s output. Hybrid's logits are column-sharded, so there this is a collective
        (every rank must call it), as ``grads_to_numpy`` and ``params_to_numpy`` are."""
        if self.hybrid:
            rows = self.spec.batch_size
            return self._whole(result)[self.group.rank * rows:][:rows]
        shards = sorted(result.addressable_shards, key=lambda s: s.index[0].start or 0)
        return np.concatenate([np.asarray(s.data) for s in shards])

    def _whole(self, tree):
        """Every leaf whole on every rank (hybrid's FC shards all-gathered), in one jitted call."""
        tree = self._replicate(tree)
        return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), tree)

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return self._canonical(self._whole(result))

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        return self._canonical(self._whole(self.params))

    def describe(self) -> dict:
        return super().describe() | {"parallel": self.group.parallel, "world_size": self.mesh.size,
                                     "comm_backend": self.comm_backend(), "mesh": f"{AXIS}={self.mesh.size}"}

    def close(self) -> None:
        jax.distributed.shutdown()


class _AheadOfTime:
    """A jitted step compiled once, on first use, for the global shapes and shardings: every call runs that one
    executable, the one whose HLO ``collectives`` reads (a later ``jit`` call would compile it again)."""

    def __init__(self, jitted, abstract_args: Callable[[], tuple]):
        self.jitted, self.abstract_args, self._compiled = jitted, abstract_args, None

    @property
    def compiled(self):
        if self._compiled is None:
            self._compiled = self.jitted.lower(*self.abstract_args()).compile()
        return self._compiled

    def __call__(self, *args):
        return self.compiled(*args)


def _global(local: jax.Array, sharding: NamedSharding) -> jax.Array:
    """A global array of ``sharding`` from the same host value on every rank."""
    host = np.asarray(local)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _local_bytes(tree, shardings) -> int:
    """Bytes this process's devices hold of ``tree`` (arrays or shapes) laid out as ``shardings``."""
    sizes = jax.tree.map(lambda a, s: len(s.addressable_devices) * math.prod(s.shard_shape(a.shape))
                         * np.dtype(a.dtype).itemsize, tree, shardings)
    return int(sum(jax.tree.leaves(sizes)))
