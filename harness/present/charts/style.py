"""What every chart shares: framework colors, hatches, panels, bars, titles, saving (matplotlib, Agg)."""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from harness.results.naming import (  # noqa: E402
    BASELINES,
    FRAMEWORK_ORDER,
    device_text,
    lrn_text,
    mode_order,
    sort_cases,
    value_order,
    versions_text,
)

FIGURES = "figures"  # a run folder's charts go here
FRAMEWORK_COLORS = dict(zip(FRAMEWORK_ORDER, ("#ff7f0e", "#d62728", "#1f77b4"), strict=True))
# Any other framework (the seed's tf1 program, a plugin) gets one of these, fixed by its name.
OTHER_COLORS = ("#9467bd", "#8c564b", "#2ca02c", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
LOG_SCALE_SPREAD = 8  # a panel whose slowest time is this many times its fastest gets a log axis
HATCHES = ("", "//", "..", "xx", "\\\\", "oo")


def color(framework: str) -> str:
    return FRAMEWORK_COLORS.get(framework) or OTHER_COLORS[zlib.crc32(framework.encode()) % len(OTHER_COLORS)]


def log_if_spread(ax, values: np.ndarray, axis: str = "y") -> bool:
    """Switch ``axis`` to a log scale when the values span more than LOG_SCALE_SPREAD times."""
    log = values.max() > LOG_SCALE_SPREAD * values.min()
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        scaled = ax.yaxis if axis == "y" else ax.xaxis
        for set_formatter in (scaled.set_major_formatter, scaled.set_minor_formatter):
            set_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    return log


def title(fig, what: str, summary: pd.DataFrame) -> None:
    fig.suptitle(f"{what}\n{device_text(summary)} | {versions_text(summary)}", fontsize=11)


def subplots(rows: int, cols: int, size: tuple[float, float], **kw):
    """A figure with a 2-D array of axes and constrained layout (titles and legends never overlap)."""
    return plt.subplots(rows, cols, figsize=size, squeeze=False, layout="constrained", **kw)


def save(fig, folder: Path, name: str, svg: bool = True) -> Path:
    """Write ``name``.png (and .svg) into ``folder``; close the figure; return the PNG's path."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    if svg:
        fig.savefig(folder / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return png


def hatch_map(values, baseline=None) -> dict:
    """A hatch per value, in order; ``baseline`` (a default, fp32, native) solid."""
    others = [v for v in values if v != baseline]
    return {baseline: ""} | {v: HATCHES[1 + i % (len(HATCHES) - 1)] for i, v in enumerate(others)}


def axis_label(name: str, unit: str = "", log: bool = False) -> str:
    """``median time per batch (ms, log scale)``."""
    notes = [n for n in (unit, "log scale" if log else "") if n]
    return name + (f" ({', '.join(notes)})" if notes else "")


def legend_below(fig, axes) -> None:
    """One legend under the figure for every labelled artist of ``axes``, each label once."""
    handles = {}
    for ax in np.ravel(axes):
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center",
                   ncol=min(len(handles), 4 if len(handles) < 16 else 3), frameon=False, fontsize=8)


def grouped_order(frame: pd.DataFrame, keys: list[str], fastest: str | None = None) -> pd.DataFrame:
    """Rows grouped by the values of ``keys`` (groups numbered in reading order in ``_group``), in reading
    order within a group, where ``fastest`` (precision, variant or layout) varies fastest so that the
    cases it compares stand together."""
    if fastest:
        frame = frame.assign(_rank=frame[fastest].map(value_order(fastest, frame[fastest]).index))
        frame = frame.sort_values("_rank", kind="stable")
        frame = frame.loc[sort_cases(frame.assign(**{fastest: BASELINES[fastest]})).index]
    else:
        frame = sort_cases(frame)
    ranks = list(zip(*(frame[c].map(value_order(c, frame[c]).index) for c in keys), strict=True)) if keys \
        else [()] * len(frame)
    order = sorted(set(ranks))
    return frame.assign(_group=[order.index(r) for r in ranks]).sort_values("_group", kind="stable")


def bar_panels(frame: pd.DataFrame, split_lrn: bool = True):
    """A figure with a panel per mode (rows) and, with ``split_lrn``, per LRN setting (columns), each row
    as tall as its most bars; returns it and [(ax, rows of ``frame``)] for the panels with data (the
    others say "not run")."""
    modes, lrns = mode_order(frame["mode"]), sorted(frame["lrn"].unique(), reverse=True) if split_lrn else [None]

    def rows(mode, lrn) -> pd.DataFrame:
        return frame[(frame["mode"] == mode) & ((frame["lrn"] == lrn) if lrn is not None else True)]

    counts = [max(len(rows(m, lrn)) for lrn in lrns) or 1 for m in modes]
    fig, axes = subplots(len(modes), len(lrns), (7.5 * len(lrns) + 1.5, 1.4 + 0.3 * sum(counts) + 0.9 * len(modes)),
                         gridspec_kw={"height_ratios": counts})
    panels = []
    for ax, (mode, lrn) in zip(axes.ravel(), [(m, lrn) for m in modes for lrn in lrns], strict=True):
        ax.set_title(mode if lrn is None else f"{mode}, {lrn_text(lrn)}", fontsize=10)
        panel = rows(mode, lrn)
        if panel.empty:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, color="grey")
            ax.set_axis_off()
        else:
            panels.append((ax, panel))
    return fig, panels


def hbars(ax, panel: pd.DataFrame, values: np.ndarray, texts: list[str], labels: list[str],
          hatches: list[str] | None = None, errors: np.ndarray | None = None, log: bool = True) -> bool:
    """Horizontal bars top to bottom in ``panel``'s order, colored by framework, each with its text, a rule
    between ``_group``s; ``errors`` is 2 x n (below, above). Returns whether x got a log scale."""
    y = np.arange(len(panel))[::-1]
    low, high = (values, values) if errors is None else (values - errors[0], values + errors[1])
    log = log and log_if_spread(ax, np.concatenate([low, high]), axis="x")
    left = low.min() / 2 if log else 0
    ax.barh(y, values - left, left=left, xerr=errors, capsize=2, color=[color(f) for f in panel["framework"]],
            edgecolor="black", linewidth=0.5, hatch=hatches)
    for yi, x, text in zip(y, high, texts, strict=True):
        ax.annotate(text, (x, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    if "_group" in panel:
        groups = panel["_group"].to_numpy()
        for yi in y[1:][groups[1:] != groups[:-1]]:
            ax.axhline(yi + 0.5, color="grey", linewidth=0.6)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(panel) - 0.4)
    ax.margins(x=0.35 if log else 0.25)
    return log
