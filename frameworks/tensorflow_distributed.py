"""TensorFlow AlexNet on several ranks: ``tf.distribute.MultiWorkerMirroredStrategy`` (the cluster from TF_CONFIG,
RING collectives on CPU, NCCL on GPU), data-parallel (``dp``) or hybrid (``hybrid``: Krizhevsky's "one weird
trick", arXiv 1404.5997), reusing ``TensorFlowBackend``'s network.

- dp: every variable is a mirrored variable made under ``strategy.scope()``; each step runs through
  ``strategy.run`` inside one ``tf.function``. Each rank differentiates its share of the objective (its loss / N),
  and the gradients are summed across ranks: by the replica context's ``all_reduce`` for ``forward_backward``, and
  by Keras' SGD for ``train_step`` (made under the strategy, its ``apply_gradients`` all-reduces with SUM, it does
  not average). TF batches the gradients of one call into one flat tensor and one all-reduce when the backward is
  done (``CommunicationOptions.bytes_per_pack`` 0): no overlap with the backward.
- hybrid: the convolutions as in dp. The FC heads are split by columns: each rank holds its 1/N of the columns of
  fc6, fc7 and fc8 (and their biases) as plain, unmirrored variables with their own Keras SGD. pool5 of every
  rank's images is gathered (replica context ``all_gather``); each rank computes its columns of a layer for all
  N x B rows, and the columns are gathered before the next layer and after fc8, whose rows of this rank's images
  are its output. The gradient of a gather is TF's own: an all-reduce (SUM) of the gathered tensor's gradient, of
  which each rank keeps its part; so the gradient of pool5 returns to its owner. The FC shards' optimizer runs
  outside the replica context (inside it, Keras would all-reduce their gradients, which are not copies).
  So hybrid's ``forward`` communicates too (its four gathers, listed by ``collectives("forward")``).

DTensor (``tf.experimental.dtensor``) multi-client on CPU works here too (a column-sharded matmul, its gradient
kept sharded, Keras SGD on a DVariable), but it is not used: it has no collective timeout (a rank that stalls
leaves the others waiting forever; a dead one is noticed by the heartbeat), it would be a second engine beside
MultiWorkerMirroredStrategy for dp (the two cannot share a process, so dp and hybrid would differ in engine, not
only in scheme), and it is experimental and unmaintained.

Order and failures: TensorFlow configures collectives and its coordination service once, before its runtime
starts, so the strategy is made in ``_make_variables``, the backend's first TensorFlow op, and once per process
(later backends of the process reuse it). Every wait is bounded by ``group.timeout_s``: each collective through
``CommunicationOptions.timeout_seconds`` (a stalled rank: DeadlineExceededError; a dead one: UnavailableError at
once, its connection reset); a worker that never starts through the coordination service's registration barrier
(without it a rank waits forever for a missing worker); a worker that dies between steps through its heartbeat.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
from tensorflow.python.distribute import multi_worker_util
from tensorflow.python.eager import context

from .base import RunConfig, Unsupported
from .distributed import Collective, Group
from .spec import FCS, ModelSpec
from .tensorflow_backend import LR, MOMENTUM, TensorFlowBackend

MODES = ("forward", "forward_backward", "train_step")
RING = tf.distribute.experimental.CommunicationImplementation.RING
NCCL = tf.distribute.experimental.CommunicationImplementation.NCCL
# A worker retries registering with the coordination service with exponential back-off of up to 2**14 ms, so it may
# notice a missing leader that long after the registration timeout: the timeout leaves room for it.
REGISTER_BACKOFF_S = 16.384
SUM = tf.distribute.ReduceOp.SUM

_strategies: dict[tuple, tf.distribute.MultiWorkerMirroredStrategy] = {}


class ClusterError(RuntimeError):
    """The ranks could not form or keep their TensorFlow cluster."""


def _cluster(group: Group) -> list[str]:
    """The workers of TF_CONFIG, checked against the launch variables."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = config.get("cluster", {}).get("worker", [])
    task = config.get("task", {})
    if len(workers) != group.world_size or task.get("type") != "worker" or task.get("index") != group.rank:
        raise ClusterError(f"TF_CONFIG {config or 'unset'} does not describe rank {group.rank} of {group.world_size} "
                           "workers (frameworks.distributed.tf_config writes it)")
    return workers


def _where(group: Group) -> str:
    return f"rank {group.rank} of {group.world_size}"


def check_joinable(group: Group, gpu: bool) -> None:
    """Raise unless this process can still make ``group``'s strategy, or has it: TF configures collectives and its
    coordination service once, before its runtime starts (thread settings too)."""
    if _strategies and _key(group, gpu) not in _strategies:
        raise ClusterError(f"{_where(group)}: this process joined a TensorFlow cluster with other workers, device or "
                           "timeout already; TF allows one per process")
    if not _strategies and context.context()._context_handle is not None:  # TF's own test, in configure_collective_ops
        raise ClusterError(f"{_where(group)}: the strategy must be made before any other TensorFlow op of the process; "
                           "one has run already")


def _key(group: Group, gpu: bool) -> tuple:
    return tuple(_cluster(group)), group.rank, gpu, group.timeout_s


def join(group: Group, gpu: bool) -> tf.distribute.MultiWorkerMirroredStrategy:
    """This process's strategy for ``group``, made on first use (see ``check_joinable``)."""
    check_joinable(group, gpu)
    key = _key(group, gpu)
    if key in _strategies:
        return _strategies[key]
    workers = list(key[0])
    ctx, timeout_ms = context.context(), int(group.timeout_s * 1000)
    register_ms = int(1000 * (group.timeout_s - min(REGISTER_BACKOFF_S, group.timeout_s / 2)))
    # What MultiWorkerMirroredStrategy would configure, with our timeouts, and a barrier at registration: without
    # it a rank waits forever for a worker that never starts.
    ctx.configure_coordination_service(
        "standalone", multi_worker_util.coordination_leader({"worker": workers}),
        cluster_register_timeout_in_ms=register_ms, heartbeat_timeout_in_ms=timeout_ms,
        shutdown_barrier_timeout_in_ms=timeout_ms,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name="worker", num_tasks=len(workers))])
    ctx.coordination_service.cluster_register_with_barrier = True
    options = tf.distribute.experimental.CommunicationOptions(implementation=NCCL if gpu else RING,
                                                              timeout_seconds=group.timeout_s)
    where = f"{_where(group)} ({workers[group.rank]})"
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except tf.errors.DeadlineExceededError as e:
        raise ClusterError(f"{where}: not every worker of {workers} joined within {register_ms / 1000:g} s "
                           f"({e.message.splitlines()[0]})") from e
    except tf.errors.OpError as e:
        busy = "Could not start gRPC server" in e.message
        raise ClusterError(f"{where}: " + (f"cannot listen on port {workers[group.rank].rsplit(':', 1)[1]} (in "
                                           "use? TF binds it on every interface)" if busy else e.message)) from e
    _strategies[key] = strategy
    return strategy


class TensorFlowDistributedBackend(TensorFlowBackend):
    """One rank of a dp or hybrid group (``frameworks.distributed.DistributedBackend``)."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], config: RunConfig, group: Group):
        if config.variant != "default":
            raise Unsupported(f"distributed tensorflow runs the default (tf.function) variant, not {config.variant!r}: "
                              "its gathers need a graph")
        self.group = group
        self.hybrid = group.parallel == "hybrid" and spec.heads
        fcs = {name for name, _ in FCS}
        self.local_names = [n for n in weights if self.hybrid and n.split("/")[0] in fcs]
        gpus = tf.config.list_physical_devices("GPU")
        check_joinable(group, bool(gpus) and config.device != "cpu")  # before the thread settings, which need it too
        if gpus and config.device != "cpu":  # this rank's GPU becomes GPU:0, before the runtime starts
            if group.local_rank >= len(gpus):
                raise Unsupported(f"local rank {group.local_rank} has no GPU: this host has {len(gpus)}")
            tf.config.set_visible_devices(gpus[group.local_rank], "GPU")
        self.local_optimizer = None
        self._comm_steps, self._functions = {}, {}
        super().__init__(spec, weights, config)
        self.shared = [i for i, n in enumerate(self.names) if n not in self.local_names]
        self.local = [i for i, n in enumerate(self.names) if n in self.local_names]

    # --- variables and steps ---------------------------------------------------------------------------------------

    def _columns(self, w: np.ndarray) -> np.ndarray:
        """This rank's share of the last axis (the output columns of an FC weight or bias)."""
        return w[..., np.array_split(np.arange(w.shape[-1]), self.group.world_size)[self.group.rank]]

    def _make_variables(self, weights: dict[str, np.ndarray]) -> list:
        gpu = self.device.startswith("/GPU")
        self.strategy, self.implementation = join(self.group, gpu), NCCL if gpu else RING
        self.device = self.strategy.extended.worker_devices[0]
        made = {}
        with self.strategy.scope():  # mirrored: the same on every rank, updated with all-reduced gradients
            for n, w in weights.items():
                if n not in self.local_names:
                    made[n] = tf.Variable(w, name=n.replace("/", "_"))
        with tf.device(self.device):  # hybrid's FC columns: this rank's own
            for n in self.local_names:
                made[n] = tf.Variable(self._columns(weights[n]), name=n.replace("/", "_"))
        return [made[n] for n in weights]

    def _objective(self, loss):
        """This rank's share of the mean over ranks; the engine sums the shares' gradients."""
        return loss / self.group.world_size

    def _heads(self, x):
        if not self.hybrid:
            return super()._heads(x)
        ctx, p = tf.distribute.get_replica_context(), self.params
        x = ctx.all_gather(x, axis=0)  # every rank's pool5: N x B rows
        for i, (name, _) in enumerate(FCS):
            x = self._fc(x, p[f"{name}/weights"], p[f"{name}/biases"], relu=i < len(FCS) - 1)  # this rank's columns
            x = ctx.all_gather(x, axis=1)  # every column
            self._tap(name, x)
        b = self.spec.batch_size
        return x[self.group.rank * b:(self.group.rank + 1) * b]

    def _sum_shared(self, grads: list) -> list:
        """The gradients with the mirrored variables' summed across ranks (one batched all-reduce)."""
        summed = tf.distribute.get_replica_context().all_reduce(SUM, [grads[i] for i in self.shared])
        grads = list(grads)
        for i, g in zip(self.shared, summed, strict=True):
            grads[i] = g
        return grads

    def _output(self, x):
        return self.strategy.run(super()._output, args=(x,))

    def _replica_grads(self, x):
        return self._sum_shared(super()._grads(x))

    def _grads(self, x):
        return self.strategy.run(self._replica_grads, args=(x,))

    def _replica_train(self, x, labels):
        loss, grads = self._train_grads(x, labels)
        # Keras under the strategy all-reduces (SUM) these gradients before it applies them
        self.optimizer.apply_gradients([(grads[i], self.variables[i]) for i in self.shared])
        return loss, [grads[i] for i in self.local]

    def _train(self, x, labels):
        loss, local = self.strategy.run(self._replica_train, args=(x, labels))
        if self.local:
            self.local_optimizer.apply_gradients(zip(local, [self.variables[i] for i in self.local], strict=True))
        return loss

    def set_labels(self, labels: np.ndarray) -> None:
        with tf.device(self.device):
            self.labels = tf.identity(tf.constant(labels))
        with self.strategy.scope():
            self.optimizer = tf.keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)
            self.optimizer.build([self.variables[i] for i in self.shared])
        if self.local:
            with tf.device(self.device):
                self.local_optimizer = tf.keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)
                self.local_optimizer.build([self.variables[i] for i in self.local])

    # --- what is communicated --------------------------------------------------------------------------------------

    def comm_backend(self) -> str:
        return self.implementation.value  # "RING" or "NCCL"

    def _gathers(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(name, this rank's piece, axis) of each gather of a hybrid forward, in order."""
        if not self.hybrid:
            return []
        n, b = self.group.world_size, self.spec.batch_size
        return [("pool5", (b, self.spec.pool5_features), 0)] + [
            (name, (n * b, len(np.array_split(np.arange(width), n)[self.group.rank])), 1) for name, width in FCS]

    def collectives(self, mode: str) -> list[Collective]:
        """What TF runs: every ``all_gather`` first gathers the pieces' shapes (int32), then the pieces padded to the
        largest; its gradient all-reduces the gathered tensor's gradient and gathers the pieces' sizes."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        n, item, out = self.group.world_size, self.dtype.size, []
        widths = {name: width for name, width in FCS} | {"pool5": self.spec.pool5_features}
        gathers = self._gathers()
        for name, piece, axis in gathers:
            largest = max(len(c) for c in np.array_split(np.arange(widths[name]), n)) if axis else piece[0]
            out += [Collective("all_gather", n * len(piece) * 4, f"{name} shapes"),
                    Collective("all_gather", n * largest * piece[1 - axis] * item, name)]
        if mode == "forward":
            return out
        for name, _, _ in reversed(gathers):
            out += [Collective("all_reduce", n * self.spec.batch_size * widths[name] * item, f"{name} gradient"),
                    Collective("all_gather", n * 4, f"{name} gradient: sizes' shapes"),
                    Collective("all_gather", n * 4, f"{name} gradient: sizes")]
        shared = sum(self.variables[i].shape.num_elements() * self.variables[i].dtype.size for i in self.shared)
        return out + [Collective("all_reduce", shared, "gradients of the mirrored variables")]

    def traced_collectives(self, mode: str, comm: bool = False) -> list[tuple[str, tuple[int, ...] | None, str]]:
        """(op type, input shape if static, dtype) of each collective op in the traced graph of a ``mode`` step (or
        of its ``comm_step``), in graph order: what TensorFlow inserted. Traces, never runs."""
        if comm:
            self.comm_step(mode)
            function, args = self._comm_steps[mode], ()
        else:
            function, args = {"forward": (self._forward, (self.images,)),
                              "forward_backward": (self._forward_backward, (self.images,)),
                              "train_step": (self._train_step, (self.images, self.labels))}[mode]
        with tf.device(self.device):
            graph = function.get_concrete_function(*args).graph
        return [(op.type, tuple(x.shape) if x.shape.is_fully_defined() else None, x.dtype.name)
                for op in graph.get_operations() if op.type.startswith("Collective") for x in op.inputs[:1]]

    def _comm(self, mode: str) -> list:
        """The collectives of one ``mode`` step on zeros of the same shapes, through the same calls."""
        ctx = tf.distribute.get_replica_context()
        gathers = self._gathers()
        pieces = [tf.zeros(piece, self.dtype) for _, piece, _ in gathers]
        with tf.GradientTape() as tape:
            tape.watch(pieces)
            out = [ctx.all_gather(p, axis) for p, (_, _, axis) in zip(pieces, gathers, strict=True)]
        if mode == "forward":
            return out
        if gathers:
            out += tape.gradient(out, pieces, output_gradients=[tf.zeros_like(g) for g in out])
        return out + ctx.all_reduce(SUM, [tf.zeros(self.variables[i].shape, self.variables[i].dtype)
                                          for i in self.shared])

    def comm_step(self, mode: str) -> Callable[[], Any]:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        if mode not in self._comm_steps:
            self._comm_steps[mode] = self._replicated(functools.partial(self._comm, mode))
        step = self._comm_steps[mode]

        def comm():
            with tf.device(self.device):
                return step()
        return comm

    @staticmethod
    def _gather_rows(t):
        return tf.distribute.get_replica_context().all_gather(tf.identity(t), axis=0)

    @staticmethod
    def _gather_columns(*tensors):
        ctx = tf.distribute.get_replica_context()
        return [ctx.all_gather(tf.identity(t), axis=len(t.shape) - 1) for t in tensors]

    def _replicated(self, fn):
        """``fn(*args)`` run by the strategy (in its replica context) in a tf.function, without AutoGraph: there is
        no control flow to convert, and converting once failed here ("tf__run() takes 0 positional arguments")."""
        return tf.function(lambda *args: self.strategy.run(fn, args=args), autograph=False, reduce_retracing=True)

    def _collective(self, name: str, fn):
        """``_replicated(fn)``, made once."""
        if name not in self._functions:
            self._functions[name] = self._replicated(fn)
        return self._functions[name]

    def gather_floats(self, values: list[float]) -> list[list[float]]:
        with tf.device(self.device):
            gathered = self._collective("rows", self._gather_rows)(tf.constant([values], tf.float64))
        return gathered.numpy().tolist()

    def _whole(self, tensors: list) -> dict[str, np.ndarray]:
        """Canonical tensors by name, hybrid's column shards gathered (in rank order: the canonical columns)."""
        tensors = list(tensors)
        if self.local:
            with tf.device(self.device):
                gathered = self._collective("columns", self._gather_columns)(*[tensors[i] for i in self.local])
            for i, t in zip(self.local, gathered, strict=True):
                tensors[i] = t
        return {n: np.asarray(t) for n, t in zip(self.names, tensors, strict=True)}

    def grads_to_numpy(self, result) -> dict[str, np.ndarray]:
        return self._whole(result)

    def params_to_numpy(self) -> dict[str, np.ndarray]:
        return self._whole([tf.convert_to_tensor(v) for v in self.variables])

    def memory_bytes(self) -> dict[str, int]:
        def nbytes(variables) -> int:
            return sum(int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size for v in variables)
        optimizers = [o for o in (self.optimizer, self.local_optimizer) if o is not None]
        return {"param_bytes": nbytes(self.variables),
                "optimizer_bytes": sum(nbytes(o.variables) for o in optimizers)}

    def describe(self) -> dict:
        return super().describe() | {"parallel": self.group.parallel, "world_size": self.group.world_size,
                                     "rank": self.group.rank, "comm_backend": self.comm_backend()}

    def close(self) -> None:
        """TensorFlow cannot leave a cluster: its server and coordination agent live until the process exits (the
        agent then waits at a shutdown barrier, bounded by the timeout). Drop this backend's functions."""
        self._comm_steps, self._functions = {}, {}
