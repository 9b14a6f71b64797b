"""Per-layer timing (``alexbench run --per-layer``): each layer alone, forward and backward, in a worker.

``run_layers`` builds the case's backend and times each step of its ``layer_ops`` with the seed's loop;
harness.results.rows turns the raw times into ``layers.csv`` rows.
"""

from __future__ import annotations

from collections.abc import Callable

from frameworks.spec import CONVS, Layer, layer_table
from harness.core.cases import Case

from .backends import build, describe, seed_inputs
from .timing import time_steps

DIRECTIONS = ("forward", "backward")


def layer_flops(layer: Layer, direction: str) -> int:
    """FLOPs per batch of one direction: a conv's or FC's backward is twice its forward (input and weight
    gradients), conv1's once (no input gradient), as in ``spec.forward_backward_flops``."""
    if direction == "forward" or layer.name == CONVS[0][0]:
        return layer.flops
    return 2 * layer.flops


def total_steps(case: Case) -> int:
    """Steps a layers job runs (burn-in and timed, every layer and direction): its progress bar's length."""
    return len(layer_table(case.spec)) * len(DIRECTIONS) * (max(case.burn_in, 1) + case.steps)


def run_layers(job: dict, progress: Callable[[int], None]) -> dict:
    """Time every layer of ``job["case"]`` alone, forward and backward, in this process: each step's time."""
    case = Case.from_dict(job["case"])
    backend = build(case, *seed_inputs(case))
    table = {layer.name: layer for layer in layer_table(case.spec)}
    per_op = max(case.burn_in, 1) + case.steps
    layers = []
    for i, (name, direction, step) in enumerate(backend.layer_ops()):
        m = time_steps(step, backend.block, case.burn_in, case.steps, lambda n, done=i * per_op: progress(done + n))
        layers.append({"layer": name, "kind": table[name].kind, "direction": direction, "timed": m.timed,
                       "flops": layer_flops(table[name], direction)})
    return {"status": "ok", "describe": describe(backend), "layers": layers}
