"""Per-layer times beside the whole network's: do the layers, each timed alone, add up to the network?"""

from __future__ import annotations

import pandas as pd

import frameworks
from harness.core.cases import CASE_KEY

# A layers job times both directions whatever its case's mode, so cases match summary.csv without it.
MATCH = [c for c in CASE_KEY if c != "mode"]


def backward_runs_forward(framework: str) -> bool:
    """Whether the framework's per-layer backward step runs the layer's forward too (its registry entry)."""
    entry = frameworks.REGISTRY.get(framework)
    return bool(entry and entry.backward_runs_forward)


def whole_network_check(layers: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per case, the sum of the forward layer medians beside the ``forward`` case's median, and of the forward
    and backward medians (the backward alone where it runs the forward too) beside the ``forward_backward``
    median: columns ``MATCH``, mode, layers_sum_s, network_s and ratio (layers_sum_s / network_s), for the
    cases both files have."""
    forward = layers["direction"] == "forward"
    both = ~forward | ~layers["framework"].map(backward_runs_forward)
    sums = pd.concat({"forward": layers[forward].groupby(MATCH)["median_s"].sum(),
                      "forward_backward": layers[both].groupby(MATCH)["median_s"].sum()}, names=["mode"])
    ok = summary[summary["status"] == "ok"]
    network = ok[[*MATCH, "mode", "median_s"]].rename(columns={"median_s": "network_s"})
    check = sums.rename("layers_sum_s").reset_index().merge(network, on=[*MATCH, "mode"])
    return check.assign(ratio=check["layers_sum_s"] / check["network_s"])
