"""The per-layer chart: where each framework spends its time, one stacked bar per framework and direction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from frameworks.spec import ModelSpec, layer_table
from harness.analysis.layersum import backward_runs_forward
from harness.measure.layers import DIRECTIONS
from harness.results.naming import framework_order, layout_text, setting_text, variant_text
from harness.results.schema import LAYERS_COLUMNS, LAYERS_CSV, SUMMARY_COLUMNS, SUMMARY_CSV
from harness.results.tables import read_table

from .style import FIGURES, save, subplots, title

TITLE = "Where the time goes: each layer timed alone, forward and backward"
# Network order, and a color family per kind with a shade per layer.
LAYERS = [(row.name, row.kind) for row in layer_table(ModelSpec(lrn=True, heads=True))]
ORDER = [name for name, _ in LAYERS]
KIND_COLORMAPS = {"conv": "Blues", "lrn": "Oranges", "pool": "Greens", "fc": "Purples"}
PANEL_KEYS = ["lrn", "heads", "batch_size", "image_size", "precision"]
NAME_AND_MS, MS_ONLY = 0.09, 0.045  # a segment this wide (fraction of the panel's longest bar) gets that label


def layer_colors() -> dict[str, tuple[float, float, float]]:
    """Each layer's color: its kind's colormap, darker for earlier layers."""
    colors = {}
    for kind, cmap in KIND_COLORMAPS.items():
        names = [name for name, k in LAYERS if k == kind]
        shades = np.linspace(0.9, 0.35, len(names))
        colors |= {name: to_rgb(colormaps[cmap](shade)) for name, shade in zip(names, shades, strict=True)}
    return colors


def _summary(run: Path, layers: pd.DataFrame) -> pd.DataFrame:
    """summary.csv for the title's device and versions; without it, the frameworks alone."""
    if (run / SUMMARY_CSV).is_file():
        return read_table(run / SUMMARY_CSV, SUMMARY_COLUMNS)
    return pd.DataFrame({"framework": layers["framework"].unique()}).assign(
        framework_version="", device="", device_name="")


def _bars(panel: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, that bar's rows in network order), top to bottom: framework, default variant first, direction."""
    frameworks = framework_order(panel["framework"])
    show_layout = panel["layout"].nunique() > 1
    cases = panel.groupby(["framework", "variant", "layout"]).groups
    bars = []
    for framework, variant, layout in sorted(cases, key=lambda k: (frameworks.index(k[0]), k[1] != "default", k)):
        name = f"{framework} {variant_text(framework, variant)}"
        name += f" {layout_text(framework, layout)}" if show_layout else ""
        case = panel.loc[cases[framework, variant, layout]]
        case = case.assign(_order=case["layer"].map(ORDER.index)).sort_values("_order")
        for direction in DIRECTIONS:
            what = "forward + backward" if direction == "backward" and backward_runs_forward(framework) else direction
            bars.append((f"{name}\n{what}", case[case["direction"] == direction]))
    return bars


def _draw(ax, bars: list[tuple[str, pd.DataFrame]], colors: dict) -> None:
    totals = [rows["median_s"].sum() * 1e3 for _, rows in bars]
    longest = max(totals)
    for y, ((_, rows), total) in enumerate(zip(bars, totals, strict=True)):
        left = 0.0
        for _, r in rows.iterrows():
            ms = r["median_s"] * 1e3
            ax.barh(y, ms, left=left, height=0.75, color=colors[r["layer"]], edgecolor="white", linewidth=0.6)
            share = ms / longest
            if share >= MS_ONLY:
                text = f"{r['layer']}\n{ms:.3g}" if share >= NAME_AND_MS else f"{ms:.2g}"
                ink = "white" if sum(colors[r["layer"]]) < 1.6 else "black"
                ax.text(left + ms / 2, y, text, ha="center", va="center", fontsize=7, color=ink)
            left += ms
        ax.text(total + longest * 0.01, y, f"{total:.3g} ms", va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), [label for label, _ in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, longest * 1.13)  # room for the totals
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def layer_figure(run_dir: str | Path) -> Path | None:
    """Draw ``figures/layers.png`` (and .svg) from ``<run_dir>/layers.csv``; None when the run has none."""
    run = Path(run_dir)
    if not (run / LAYERS_CSV).is_file():
        return None
    layers = read_table(run / LAYERS_CSV, LAYERS_COLUMNS)
    if layers.empty:
        return None
    panels = [(key, _bars(panel)) for key, panel in layers.groupby(PANEL_KEYS, sort=False)]
    heights = [len(bars) for _, bars in panels]
    fig, axes = subplots(len(panels), 1, (9, 1.4 + 0.42 * sum(heights) + 0.5 * len(panels)),
                         gridspec_kw={"height_ratios": heights})
    colors = layer_colors()
    for ax, (key, bars) in zip(axes[:, 0], panels, strict=True):
        _draw(ax, bars, colors)
        context = dict(zip(PANEL_KEYS, key, strict=True))
        ax.set_title(", ".join(setting_text(context, c) for c in PANEL_KEYS), fontsize=9)
    note = "median ms per batch; segments left to right in network order, labelled with ms"
    recompute = [fw for fw in framework_order(layers["framework"]) if backward_runs_forward(fw)]
    if recompute:
        note += f"\n{', '.join(recompute)}: the backward step runs the layer's forward again, as its tape needs"
    axes[-1, 0].set_xlabel(note)
    present = set(layers["layer"])
    handles = [Patch(color=colors[name], label=name) for name in ORDER if name in present]
    fig.legend(handles=handles, loc="outside lower center", ncol=-(-len(handles) // 2), frameon=False, fontsize=8)
    title(fig, TITLE, _summary(run, layers))
    return save(fig, run / FIGURES, "layers")
