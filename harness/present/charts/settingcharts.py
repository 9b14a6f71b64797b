"""Charts that compare one setting across its values: precision, execution variant, layout, batch size.

Each is drawn only when the run has something to compare in it, and groups its bars so that a reader
can answer "which framework is fastest for my setting".
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from harness.core.cases import CASE_KEY
from harness.results.naming import (
    BASELINES,
    OWN_SETTINGS,
    baseline_median,
    case_label,
    extra_text,
    mode_order,
    speedup_text,
    value_order,
    varied,
)

from .style import (
    axis_label,
    bar_panels,
    color,
    grouped_order,
    hatch_map,
    hbars,
    legend_below,
    log_if_spread,
    subplots,
    title,
)

# Each setting chart's column, what its speed-ups are over, and its title.
SETTINGS = {
    "precision": ("precision", "fp32"),
    "variants": ("variant", "the framework's default variant"),
    "layout": ("layout", "the framework's native layout"),
}
TITLES = {
    "precision": "Precision: time per batch in fp32, bf16 and fp16, and the speed-up over fp32",
    "variants": "Execution variants: time per batch, and the speed-up over each framework's default",
    "layout": "Memory layout: time per batch, and the speed-up over each framework's native layout",
    "scaling": "Scaling with batch size",
}
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


def compared(ok: pd.DataFrame, column: str) -> bool:
    """Whether the run has something to compare in ``column``: more than one precision, or a framework
    with more than one variant or layout (variants and layouts differ between frameworks)."""
    if column == "precision":
        return ok[column].nunique() > 1
    return bool((ok.groupby("framework")[column].nunique() > 1).any())


def setting_chart(ok: pd.DataFrame, name: str) -> Figure | None:
    """Median ms of every case, a panel per mode and LRN setting, each bar with its speed-up over the same
    case at the setting's baseline; None when the run has nothing to compare.

    Precisions are shared by all frameworks, so a group holds one precision (and one value of every other
    varied setting) and the frameworks compete in it; variants and layouts are each framework's own, so
    a group holds one framework and its bars for each value stand side by side."""
    column, baseline = SETTINGS[name]
    if not compared(ok, column):
        return None
    frame = ok.assign(baseline_s=baseline_median(ok, column))
    keys = varied(frame, exclude=OWN_SETTINGS) if column == "precision" else ["framework"]
    frame = grouped_order(frame, keys, fastest=None if column == "precision" else column)
    hatches = hatch_map(value_order(column, frame[column]), BASELINES[column])
    fig, panels = bar_panels(frame)
    for ax, panel in panels:
        extras = [column] + varied(panel, exclude=(column,))
        ms = panel["median_s"].to_numpy() * 1e3
        speeds = ["" if r[column] == BASELINES[column] else speedup_text(r["baseline_s"], r["median_s"])
                  for _, r in panel.iterrows()]
        log = hbars(ax, panel, ms, [f"{m:.2f}  {s}".strip() for m, s in zip(ms, speeds, strict=True)],
                    [case_label(r, extras, parts=("framework",)) for _, r in panel.iterrows()],
                    hatches=[hatches[v] for v in panel[column]])
        ax.set_xlabel(axis_label("median time per batch", "ms", log))
    title(fig, f"{TITLES[name]}\nbar text: ms, and the speed-up over {baseline} of the same framework and case",
          frame)
    return fig


def scaling(ok: pd.DataFrame) -> Figure | None:
    """Latency and images/s against batch size, a row of panels per mode; one line per case without its
    batch size: color by framework, marker by LRN, line style by the other varied settings."""
    if ok["batch_size"].nunique() < 2:
        return None
    extras = varied(ok, exclude=("batch_size",))
    styles = {t: LINE_STYLES[i % len(LINE_STYLES)]
              for i, t in enumerate(dict.fromkeys(extra_text(r, extras) for _, r in ok.iterrows()))}
    modes = mode_order(ok["mode"])
    parts = ("framework", "lrn") if ok["lrn"].nunique() > 1 else ("framework",)
    fig, axes = subplots(len(modes), 2, (11, 1.2 + 3.6 * len(modes)))
    for _, line in ok.groupby([c for c in CASE_KEY if c != "batch_size"], sort=False):
        line = line.sort_values("batch_size")
        row = line.iloc[0]
        style = {"color": color(row["framework"]), "linestyle": styles[extra_text(row, extras)],
                 "marker": "o" if row["lrn"] else "s", "label": case_label(row, extras, parts=parts)}
        panels = axes[modes.index(row["mode"])]
        panels[0].plot(line["batch_size"], line["median_s"] * 1e3, **style)
        panels[1].plot(line["batch_size"], line["images_per_s"], **style)
    batches = sorted(ok["batch_size"].unique())
    for ax, (mode, column) in zip(axes.ravel(), [(m, c) for m in modes for c in ("median_s", "images_per_s")],
                                  strict=True):
        log = log_if_spread(ax, ok.loc[ok["mode"] == mode, column].to_numpy())
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(int(b)) for b in batches])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("batch size (images)")
        ax.set_ylabel(axis_label("median time per batch", "ms", log) if column == "median_s"
                      else axis_label("images per second", "", log))
        ax.set_title(mode, fontsize=10)
        ax.grid(alpha=0.3)
    title(fig, TITLES["scaling"], ok)
    legend_below(fig, axes)
    return fig
