"""Per-layer timing (``alexbench run --per-layer``): each layer alone, forward and backward, into ``layers.csv``.

``run_layers`` runs inside a worker process: it builds the case's backend and times each step of the
backend's ``layer_ops`` with the seed's loop. ``layer_rows`` turns its result into ``layers.csv`` rows, and
``whole_network_check`` sets the per-layer sums beside the whole-network medians of ``summary.csv``.
"""

from __future__ import annotations

import pandas as pd

from frameworks.base import Unsupported
from frameworks.spec import CONVS, Layer, layer_table
from frameworks.weights import canonical_weights, random_images

from .cases import Case
from .results import CASE_KEY
from .runner import case_columns
from .timing import statistics, time_steps

LAYERS_CSV = "layers.csv"
STATS = ["median_s", "mean_s", "std_s", "iqr_s"]
LAYERS_COLUMNS = CASE_KEY + ["layer", "kind", "direction", *STATS, "flops", "gflops_per_s"]
DIRECTIONS = ("forward", "backward")
# A layers job times both directions whatever its case's mode, so cases match summary.csv without it.
MATCH = [c for c in CASE_KEY if c != "mode"]
# Frameworks whose backward step runs the layer's forward too (TensorFlowBackend._layer_steps says why).
BACKWARD_RUNS_FORWARD = ("tensorflow",)


def layer_flops(layer: Layer, direction: str) -> int:
    """FLOPs per batch of one direction: a conv's or FC's backward is twice its forward (input and weight
    gradients), conv1's once (no input gradient), as in ``spec.forward_backward_flops``."""
    if direction == "forward" or layer.name == CONVS[0][0]:
        return layer.flops
    return 2 * layer.flops


def total_steps(case: Case) -> int:
    """Steps a layers job runs (burn-in and timed, every layer and direction): its progress bar's length."""
    return len(layer_table(case.spec)) * len(DIRECTIONS) * (max(case.burn_in, 1) + case.steps)


def run_layers(job: dict) -> dict:
    """Time every layer of ``job["case"]`` alone, forward and backward, in this process."""
    from .worker import build, describe, progress  # here, not at the top: the worker imports this module

    case = Case.from_dict(job["case"])
    spec = case.spec
    backend = build(case, canonical_weights(spec, case.seed), random_images(spec, case.seed), case.tf32)
    if not hasattr(backend, "layer_ops"):
        raise Unsupported(f"{case.framework} has no per-layer steps")
    table = {layer.name: layer for layer in layer_table(spec)}
    per_op = max(case.burn_in, 1) + case.steps
    layers = []
    for i, (name, direction, step) in enumerate(backend.layer_ops()):
        m = time_steps(step, backend.block, case.burn_in, case.steps, lambda n, done=i * per_op: progress(done + n))
        flops = layer_flops(table[name], direction)
        stats = statistics(m.timed, spec.batch_size, flops)
        layers.append({"layer": name, "kind": table[name].kind, "direction": direction,
                       **{k: stats[k] for k in STATS}, "flops": flops})
    print(f"@progress {total_steps(case)}", flush=True)
    return {"status": "ok", "describe": describe(backend), "layers": layers}


def layer_rows(case: Case, result: dict) -> list[dict]:
    """``layers.csv`` rows of a layers job's result; none unless it ran (the run's log has its error)."""
    if result["status"] != "ok":
        return []
    key = case_columns(case)
    return [key | item | {"gflops_per_s": item["flops"] / 1e9 / item["median_s"] if item["flops"] else float("nan")}
            for item in result["layers"]]


def whole_network_check(layers: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per case, the sum of the forward layer medians beside the ``forward`` case's median, and of the forward
    and backward medians (the backward alone where it runs the forward too) beside the ``forward_backward``
    median: columns ``MATCH``, mode, layers_sum_s, network_s and ratio (layers_sum_s / network_s), for the
    cases both files have."""
    forward = layers["direction"] == "forward"
    both = ~forward | ~layers["framework"].isin(BACKWARD_RUNS_FORWARD)
    sums = pd.concat({"forward": layers[forward].groupby(MATCH)["median_s"].sum(),
                      "forward_backward": layers[both].groupby(MATCH)["median_s"].sum()}, names=["mode"])
    ok = summary[summary["status"] == "ok"]
    network = ok[[*MATCH, "mode", "median_s"]].rename(columns={"median_s": "network_s"})
    check = sums.rename("layers_sum_s").reset_index().merge(network, on=[*MATCH, "mode"])
    return check.assign(ratio=check["layers_sum_s"] / check["network_s"])
