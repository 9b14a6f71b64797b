"""Scaling out: the global images/s of each framework against its workers, beside the ideal line (the one-worker
rate times the workers), each point labelled with its scaling efficiency; dp and hybrid side by side."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from harness.results.naming import lrn_text, mode_order

from .style import color, legend_below, subplots, title

TITLE = "Scaling out: global images/s against workers (dotted: the ideal, N times one worker)"
SCHEME_STYLES = {"dp": ("-", "o"), "hybrid": ("--", "s")}


def workers_chart(ok: pd.DataFrame) -> Figure | None:
    """A panel per mode (and LRN setting where both ran); None unless some distributed case ran at two worker
    counts."""
    ranks = ok[ok["parallel"] != "none"]
    if ranks.empty or ranks["workers"].nunique() < 2:
        return None
    panels = [(m, lrn) for m in mode_order(ranks["mode"]) for lrn in sorted(ranks["lrn"].unique(), reverse=True)]
    fig, axes = subplots(1, len(panels), (6.5 * len(panels), 4.8))
    for ax, (mode, lrn) in zip(axes[0], panels, strict=True):
        panel = ranks[(ranks["mode"] == mode) & (ranks["lrn"] == lrn)]
        for (fw, scheme), line in panel.groupby(["framework", "parallel"], sort=False):
            line = line.sort_values("workers")
            style, marker = SCHEME_STYLES.get(scheme, (":", "^"))
            ax.plot(line["workers"], line["images_per_s"], linestyle=style, marker=marker, color=color(fw),
                    label=f"{fw} {scheme}")
            one = line[line["workers"] == 1]["images_per_s"]
            if len(one):
                ax.plot(line["workers"], one.iloc[0] * line["workers"], linestyle=":", color=color(fw), alpha=0.6)
            for _, r in line[line["workers"] > 1].iterrows():  # one worker is 100% by definition
                if r["scaling_efficiency"] == r["scaling_efficiency"]:
                    ax.annotate(f"{r['scaling_efficiency']:.0%}", (r["workers"], r["images_per_s"]),
                                xytext=(4, -10 if scheme == "hybrid" else 4), textcoords="offset points", fontsize=8,
                                color=color(fw))
        ax.set_xticks(sorted(panel["workers"].unique()))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("workers (ranks)")
        ax.set_ylabel("global images per second (median step)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{mode}, {lrn_text(lrn)}", fontsize=10)
        ax.grid(alpha=0.3)
    title(fig, TITLE, ranks)
    legend_below(fig, axes)
    return fig

