"""What every chart and table shares: framework colors, case labels, orderings, titles, saving."""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from frameworks import REGISTRY  # noqa: E402  (names only: no framework is imported)

from .results import CASE_KEY  # noqa: E402

FIGURES = "figures"  # a run folder's charts go here
FRAMEWORK_COLORS = {"tensorflow": "#ff7f0e", "torch": "#d62728", "jax": "#1f77b4"}
# Any other framework (the seed's tf1 program, a plugin) gets one of these, fixed by its name.
OTHER_COLORS = ("#9467bd", "#8c564b", "#2ca02c", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MODE_ORDER = ("forward", "forward_backward", "train_step")
PRECISION_ORDER = ("fp32", "bf16", "fp16")
LAYOUT_ORDER = ("native", "nhwc", "nchw")
ORDERS = {"mode": MODE_ORDER, "framework": tuple(FRAMEWORK_COLORS), "variant": ("default",),
          "precision": PRECISION_ORDER, "layout": LAYOUT_ORDER}
# What each framework's ``default`` variant is (README: what a user gets out of the box).
DEFAULT_VARIANTS = {"tensorflow": "graph", "torch": "eager", "jax": "jit"}
# The key columns whose baseline value each setting comparison measures against.
BASELINES = {"precision": "fp32", "variant": "default", "layout": "native"}
# Settings whose values are each framework's own (xla is TensorFlow's, native means NCHW for PyTorch): a
# comparison of frameworks groups by the other settings, and reads these as part of the framework's choice.
OWN_SETTINGS = ("variant", "layout")
# Frameworks that are references, not competitors: labelled as such and never ranked.
REFERENCES = {"tf1-seed": "the seed's TF1 program"}
LOG_SCALE_SPREAD = 8  # a panel whose slowest time is this many times its fastest gets a log axis
HATCHES = ("", "//", "..", "xx", "\\\\", "oo")
# Key columns named in a case's label only when they vary within the frame being drawn.
EXTRA_COLUMNS = ("variant", "precision", "layout", "heads", "batch_size", "image_size")
# The seed's published seconds per batch (batch 32, conv1..pool5, on its GPU in 2016), by (mode, LRN).
SEED_GPU_SECONDS = {("forward", True): 0.026, ("forward", False): 0.007,
                    ("forward_backward", True): 0.078, ("forward_backward", False): 0.025}


def color(framework: str) -> str:
    return FRAMEWORK_COLORS.get(framework) or OTHER_COLORS[zlib.crc32(framework.encode()) % len(OTHER_COLORS)]


def _ordered(values, first: tuple) -> list:
    present = set(values)
    return [v for v in first if v in present] + sorted(present - set(first))


def value_order(column: str, values) -> list:
    """The distinct ``values`` of a key column in reading order: the known ones first (forward before
    forward_backward, tensorflow before torch, the default variant, fp32 and the native layout first), then
    the others sorted."""
    return _ordered(values, ORDERS.get(column, ()))


def framework_order(frameworks) -> list[str]:
    """tensorflow, torch, jax, then any other framework alphabetically."""
    return value_order("framework", frameworks)


def mode_order(modes) -> list[str]:
    return value_order("mode", modes)


def sort_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in reading order: mode, LRN on before off, framework, the default variant first, fp32 first,
    the native layout first, then the other key columns."""
    keys = frame.assign(**{f"_{c}": frame[c].map(value_order(c, frame[c]).index) for c in ORDERS},
                        _lrn=~frame["lrn"])
    columns = ["_mode", "_lrn", "_framework", "_variant", "_precision", "_layout", "heads", "batch_size", "image_size"]
    return frame.loc[keys.sort_values(columns, kind="stable").index]


def lrn_text(lrn: bool) -> str:
    return "LRN on" if lrn else "LRN off"


def varied(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """The extra key columns with more than one value in ``frame``; FC heads only where one mode has both
    (train_step always has them: its mode says so)."""
    def varies(column: str) -> bool:
        if column == "heads":
            return bool((frame.groupby("mode")["heads"].nunique() > 1).any())
        return frame[column].nunique() > 1
    return [c for c in EXTRA_COLUMNS if c not in exclude and varies(c)]


def framework_text(framework: str, long: bool = False) -> str:
    """The framework's name; a reference (the seed's TF1 program) says that it is one."""
    if framework not in REFERENCES:
        return framework
    return f"{framework} ({REFERENCES[framework]}, a reference)" if long else f"{framework} (reference)"


def variant_text(framework: str, variant: str) -> str:
    """``xla``; the default variant says what it is: ``graph (default)``."""
    if variant == "default" and framework in DEFAULT_VARIANTS:
        return f"{DEFAULT_VARIANTS[framework]} (default)"
    return variant


def layout_text(framework: str, layout: str) -> str:
    """``NHWC``; the native layout says which it is: ``NCHW (native)``."""
    if layout == "native":
        return f"{REGISTRY[framework].layouts[0].upper()} (native)" if framework in REGISTRY else "native"
    return layout.upper()


def setting_text(row, column: str) -> str:
    """One key column's value as a reader wants it: ``graph (default)``, ``NCHW (native)``, ``batch 64``."""
    value = row[column]
    words = {"variant": lambda: variant_text(row["framework"], value),
             "layout": lambda: layout_text(row["framework"], value),
             "heads": lambda: "FC heads" if value else "no heads", "batch_size": lambda: f"batch {int(value)}",
             "image_size": lambda: f"{int(value)}px", "lrn": lambda: lrn_text(value),
             "framework": lambda: framework_text(value)}
    return words.get(column, lambda: str(value))()


def extra_text(row, columns: list[str]) -> str:
    return " ".join(setting_text(row, c) for c in columns)


def case_label(row, columns: list[str], parts: tuple[str, ...] = ("framework", "mode", "lrn")) -> str:
    """``torch forward LRN on`` plus the varied extra columns, e.g. ``xla batch 64``."""
    return extra_text(row, [*parts, *columns])


def baseline_median(frame: pd.DataFrame, column: str) -> pd.Series:
    """Per row, the median_s of the same case with ``column`` at its baseline (BASELINES: fp32, the
    default variant, the native layout); NaN where ``frame`` has no such case."""
    others = [c for c in CASE_KEY if c != column]
    base = frame[frame[column] == BASELINES[column]].set_index(others)["median_s"]
    return pd.Series(base.reindex(pd.MultiIndex.from_frame(frame[others])).to_numpy(), index=frame.index)


def speedup_text(baseline_s: float, seconds: float) -> str:
    """``1.84x faster`` or ``1.20x slower`` than the baseline; empty without one."""
    if pd.isna(baseline_s):
        return ""
    ratio = baseline_s / seconds
    if abs(ratio - 1) < 0.005:
        return "same"
    return f"{ratio:.2f}x faster" if ratio > 1 else f"{1 / ratio:.2f}x slower"


def log_if_spread(ax, values: np.ndarray, axis: str = "y") -> bool:
    """Switch ``axis`` to a log scale when the values span more than LOG_SCALE_SPREAD times."""
    log = values.max() > LOG_SCALE_SPREAD * values.min()
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        scaled = ax.yaxis if axis == "y" else ax.xaxis
        for set_formatter in (scaled.set_major_formatter, scaled.set_minor_formatter):
            set_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    return log


def device_text(summary: pd.DataFrame) -> str:
    names = [n or d for n, d in zip(summary["device_name"], summary["device"], strict=True)]
    return ", ".join(dict.fromkeys(n for n in names if n)) or "unknown device"


def versions_text(summary: pd.DataFrame) -> str:
    pairs = summary[["framework", "framework_version"]].drop_duplicates()
    versions = dict(zip(pairs["framework"], pairs["framework_version"], strict=True))
    return ", ".join(f"{fw} {versions[fw]}".strip() for fw in framework_order(versions))


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
