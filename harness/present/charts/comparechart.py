"""``alexbench compare``'s chart: each common case's ratio B/A, the significant ones solid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.analysis.compare import CompareResult
from harness.analysis.significance import SIGNIFICANT_P

from .style import FIGURES, color, save, subplots


def ratio_chart(result: CompareResult) -> Path:
    """Draw ``<run B>/figures/compare_<run A>.png``; returns its path."""
    table, run_a, run_b, fail_above = result.table, result.run_a, result.run_b, result.fail_above
    fig, axes = subplots(1, 1, (9, 1.6 + 0.4 * len(table)))
    ax = axes[0, 0]
    y = np.arange(len(table))[::-1]
    for yi, (_, r) in zip(y, table.iterrows(), strict=True):
        ax.barh(yi, r["ratio"] - 1, left=1, color=color(r["framework"]), edgecolor="black", linewidth=0.5,
                alpha=1.0 if r["significant"] else 0.35, hatch="" if r["significant"] else "//")
        ax.annotate(f"{r['ratio']:.2f}x" + (" *" if r["significant"] else ""), (r["ratio"], yi),
                    xytext=(3 if r["ratio"] >= 1 else -3, 0), textcoords="offset points", va="center",
                    ha="left" if r["ratio"] >= 1 else "right", fontsize=8)
    ax.axvline(1.0, color="black", linewidth=0.8)
    if fail_above is not None:
        ax.axvline(fail_above, color="red", linestyle="--", linewidth=1, label=f"--fail-above {fail_above:g}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, table["case"])
    ax.margins(x=0.2)
    ax.set_xlabel("median time per batch, B / A (x): above 1, B is slower")
    fig.suptitle(f"B = {run_b.name} against A = {run_a.name}\n"
                 f"solid, *: significant (Mann-Whitney U, p < {SIGNIFICANT_P}); hatched: not", fontsize=10)
    return save(fig, run_b / FIGURES, f"compare_{run_a.name}", svg=False)
