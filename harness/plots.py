"""A run's charts (PNG and SVG in ``<run>/figures/``), drawn from summary.csv and steps.csv only.

Only cases with status ok are drawn; a chart with nothing to show in this run is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from .chartstyle import (
    SEED_GPU_SECONDS,
    case_label,
    color,
    extra_text,
    lrn_text,
    mode_order,
    save,
    sort_cases,
    subplots,
    title,
    varied,
)
from .results import CASE_KEY, ResultsError, read_run

FIGURES = "figures"
# Each chart's file name and title, in the order the report shows them.
TITLES = {
    "latency": "Latency per batch (lower is better)",
    "lrn_cost": "Cost of LRN: time with LRN over time without",
    "timeline": "Every step in run order",
    "distribution": "Spread of the timed steps",
    "throughput": "Throughput at the median step time (higher is better)",
    "scaling": "Scaling with batch size",
}
HATCHES = ("", "//", "..", "xx", "\\\\", "oo")
MODE_STYLES = {"forward": "-", "forward_backward": "--"}
BURN_IN_COLOR = "#dddddd"
LOG_SCALE_SPREAD = 8  # a panel whose slowest time is this many times its fastest gets a log axis


def key_of(row) -> tuple:
    return tuple(row[c] for c in CASE_KEY)


def step_samples(steps: pd.DataFrame, phase: str = "timed") -> dict[tuple, np.ndarray]:
    """Seconds of each step of ``phase``, in step order, by case key."""
    rows = steps[steps["phase"] == phase].sort_values("step")
    return {key: group["seconds"].to_numpy() for key, group in rows.groupby(CASE_KEY, sort=False)}


def pct_of_peak(summary: pd.DataFrame) -> pd.Series | None:
    """The optional pct_of_peak column as numbers; None when the run has no such values."""
    if "pct_of_peak" not in summary.columns:
        return None
    values = pd.to_numeric(summary["pct_of_peak"], errors="coerce")
    bad = values.isna() & summary["pct_of_peak"].notna()
    if bad.any():
        raise ResultsError(f"summary.csv: column pct_of_peak has a value that is not a number: "
                           f"{summary['pct_of_peak'][bad].iloc[0]!r}")
    return None if values.isna().all() else values


def _log_if_spread(ax, values: np.ndarray, axis: str = "y") -> bool:
    """Switch ``axis`` to a log scale when the values span more than LOG_SCALE_SPREAD times."""
    log = values.max() > LOG_SCALE_SPREAD * values.min()
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        scaled = ax.yaxis if axis == "y" else ax.xaxis
        for set_formatter in (scaled.set_major_formatter, scaled.set_minor_formatter):
            set_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    return log


def _grouped_bars(ax, frame: pd.DataFrame, values: np.ndarray, labels: list[str], extras: list[str],
                  errors: np.ndarray | None = None) -> None:
    """Bars grouped by mode along x, one bar per framework (+ extras) series, its value written above.

    ``errors`` is a 2 x n array of lower and upper error-bar lengths, or None."""
    modes = mode_order(frame["mode"])
    names = [case_label(r, extras, parts=("framework",)) for _, r in frame.iterrows()]
    series = list(dict.fromkeys(names))
    hatches = {e: HATCHES[i % len(HATCHES)]
               for i, e in enumerate(dict.fromkeys(extra_text(r, extras) for _, r in frame.iterrows()))}
    width = 0.8 / len(series)
    for i, (_, row) in enumerate(frame.iterrows()):
        x = modes.index(row["mode"]) - 0.4 + width * (series.index(names[i]) + 0.5)
        err = None if errors is None else errors[:, i:i + 1]
        ax.bar(x, values[i], width * 0.9, yerr=err, capsize=3, color=color(row["framework"]),
               hatch=hatches[extra_text(row, extras)], edgecolor="black", linewidth=0.5, label=names[i])
        top = values[i] + (0 if err is None else err[1, 0])
        ax.annotate(labels[i], (x, top), xytext=(0, 4), textcoords="offset points", ha="center", va="bottom",
                    fontsize=8, rotation=90 if len(series) > 4 else 0)
    ax.set_xticks(range(len(modes)), modes)
    ax.margins(y=0.2)


def _legend_below(fig, axes) -> None:
    handles = {}
    for ax in np.ravel(axes):
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 4),
               frameon=False)


def latency(ok: pd.DataFrame, timed: dict[tuple, np.ndarray]) -> Figure:
    """Median ms per batch with interquartile range, grouped by mode, a panel per LRN setting."""
    lrns = sorted(ok["lrn"].unique(), reverse=True)
    extras = varied(ok)
    panel_width = max(4.5, 0.35 * len(ok) / len(lrns) + 1.5)
    fig, axes = subplots(1, len(lrns), (panel_width * len(lrns) + 1, 4.8), sharey=True)
    for ax, lrn in zip(axes[0], lrns, strict=True):
        panel = ok[ok["lrn"] == lrn]
        median = panel["median_s"].to_numpy() * 1e3
        # a case without step rows gets a zero-length error bar
        quartiles = np.array([np.percentile(timed.get(key_of(r), [r["median_s"]]), [25, 75]) * 1e3
                              for _, r in panel.iterrows()])
        errors = np.clip(np.vstack([median - quartiles[:, 0], quartiles[:, 1] - median]), 0, None)
        _grouped_bars(ax, panel, median, [f"{m:.1f}" for m in median], extras, errors)
        ax.set_title(lrn_text(lrn))
    axes[0, 0].set_ylabel("time per batch (ms): median, bars span the IQR")
    title(fig, TITLES["latency"], ok)
    _legend_below(fig, axes)
    return fig


def lrn_cost(ok: pd.DataFrame) -> Figure | None:
    """Median with LRN over median without, per framework and mode; the seed's GPU ratio as a mark."""
    others = [c for c in CASE_KEY if c != "lrn"]
    on, off = (ok[ok["lrn"] == flag].set_index(others)["median_s"] for flag in (True, False))
    ratio = (on / off).dropna()
    if ratio.empty:
        return None
    frame = ratio.rename("ratio").reset_index().assign(lrn=True)
    described = ok[CASE_KEY + ["device", "device_name", "framework_version"]]
    frame = sort_cases(frame.merge(described, on=CASE_KEY))
    extras = varied(frame)
    fig, axes = subplots(1, 1, (max(5.5, 0.5 * len(frame) + 2), 4.8))
    ax = axes[0, 0]
    _grouped_bars(ax, frame, frame["ratio"].to_numpy(), [f"{r:.2f}x" for r in frame["ratio"]], extras)
    for i, mode in enumerate(mode_order(frame["mode"])):
        if (mode, True) in SEED_GPU_SECONDS:
            seed = SEED_GPU_SECONDS[mode, True] / SEED_GPU_SECONDS[mode, False]
            ax.hlines(seed, i - 0.45, i + 0.45, colors="black", linestyles=":", linewidth=1.5,
                      label="the seed's ratio, on its GPU (2016)")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("median with LRN / median without (x)")
    title(fig, TITLES["lrn_cost"], frame)
    _legend_below(fig, axes)
    return fig


def timeline(ok: pd.DataFrame, steps: pd.DataFrame) -> Figure | None:
    """Every step of every case in run order, burn-in shaded; a panel per mode."""
    burn, timed = step_samples(steps, "burn_in"), step_samples(steps, "timed")
    none = np.array([])
    cases = [(r, burn.get(key_of(r), none), timed.get(key_of(r), none)) for _, r in ok.iterrows()]
    cases = [c for c in cases if len(c[1]) + len(c[2])]
    if not cases:
        return None
    modes = mode_order(r["mode"] for r, _, _ in cases)
    extras = varied(ok)
    fig, axes = subplots(len(modes), 1, (10, 3.6 * len(modes)))
    for ax, mode in zip(axes[:, 0], modes, strict=True):
        panel = [c for c in cases if c[0]["mode"] == mode]
        n_burn = max(len(b) for _, b, _ in panel)
        ax.axvspan(-0.5, n_burn - 0.5, color=BURN_IN_COLOR, label="burn-in (step 0 includes compile)")
        for row, b, t in panel:
            ms = np.concatenate([b, t]) * 1e3
            ax.plot(np.arange(len(ms)), ms, color=color(row["framework"]), linewidth=1.2,
                    linestyle="-" if row["lrn"] else "--", marker="." if len(ms) <= 60 else None,
                    label=case_label(row, extras, parts=("framework", "lrn")))
        log = _log_if_spread(ax, np.concatenate([np.concatenate([b, t]) for _, b, t in panel]))
        ax.set_title(mode)
        ax.set_ylabel("time per step (ms" + (", log scale)" if log else ")"))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    axes[-1, 0].set_xlabel("step (burn-in, then timed steps)")
    title(fig, TITLES["timeline"], ok)
    return fig


def distribution(ok: pd.DataFrame, timed: dict[tuple, np.ndarray]) -> Figure | None:
    """A box of the timed steps per case, a panel per mode (its own scale)."""
    cases = [(r, timed[key_of(r)] * 1e3) for _, r in ok.iterrows() if key_of(r) in timed]
    if not cases:
        return None
    modes = mode_order(r["mode"] for r, _ in cases)
    counts = [sum(r["mode"] == m for r, _ in cases) for m in modes]
    extras = varied(ok)
    fig, axes = subplots(len(modes), 1, (8, 1.2 + 0.4 * len(cases) + 0.6 * len(modes)),
                         gridspec_kw={"height_ratios": counts})
    for ax, mode in zip(axes[:, 0], modes, strict=True):
        panel = [c for c in cases if c[0]["mode"] == mode][::-1]  # top to bottom in reading order
        boxes = ax.boxplot([ms for _, ms in panel], orientation="horizontal", patch_artist=True, widths=0.6,
                           flierprops={"markersize": 3}, medianprops={"color": "black"})
        for box, (row, _) in zip(boxes["boxes"], panel, strict=True):
            box.set(facecolor=color(row["framework"]), alpha=0.7)
        labels = [case_label(r, extras, parts=("framework", "lrn")) for r, _ in panel]
        ax.set_yticks(range(1, len(panel) + 1), labels)
        log = _log_if_spread(ax, np.concatenate([ms for _, ms in panel]), axis="x")
        ax.set_title(mode, fontsize=10)
        ax.set_xlabel("time per timed step (ms" + (", log scale)" if log else ")"))
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[-1, 0].set_xlabel(axes[-1, 0].get_xlabel() + "; box: quartiles, whiskers: 1.5 IQR")
    title(fig, TITLES["distribution"], ok)
    return fig


def throughput(ok: pd.DataFrame) -> Figure:
    """Images/s and GFLOP/s per case (and percent of peak when the run has it), horizontal bars."""
    panels = {"images per second": ok["images_per_s"], "achieved GFLOP/s": ok["gflops_per_s"]}
    peak = pct_of_peak(ok)
    if peak is not None:
        panels["percent of the device's peak FLOP/s"] = peak
    labels = [case_label(r, varied(ok)) for _, r in ok.iterrows()]
    fig, axes = subplots(1, len(panels), (4.2 * len(panels) + 2.5, 1.4 + 0.38 * len(ok)), sharey=True)
    y = np.arange(len(ok))[::-1]
    for ax, (name, values) in zip(axes[0], panels.items(), strict=True):
        bars = ax.barh(y, values.fillna(0), color=[color(f) for f in ok["framework"]], edgecolor="black",
                       linewidth=0.5)
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:,.1f}" for v in values], fontsize=8, padding=2)
        ax.set_xlabel(name)
        ax.margins(x=0.25)
    axes[0, 0].set_yticks(y, labels)
    title(fig, TITLES["throughput"], ok)
    return fig


def scaling(ok: pd.DataFrame) -> Figure | None:
    """Latency and images/s against batch size, one line per case without its batch size."""
    if ok["batch_size"].nunique() < 2:
        return None
    extras = varied(ok, exclude=("batch_size",))
    fig, axes = subplots(1, 2, (11, 4.6))
    others = [c for c in CASE_KEY if c != "batch_size"]
    for _, line in ok.groupby(others, sort=False):
        line = line.sort_values("batch_size")
        row = line.iloc[0]
        style = {"color": color(row["framework"]), "linestyle": MODE_STYLES.get(row["mode"], ":"),
                 "marker": "o" if row["lrn"] else "s", "label": case_label(row, extras)}
        axes[0, 0].plot(line["batch_size"], line["median_s"] * 1e3, **style)
        axes[0, 1].plot(line["batch_size"], line["images_per_s"], **style)
    batches = sorted(ok["batch_size"].unique())
    for ax, name in zip(axes[0], ("median time per batch (ms)", "images per second"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(int(b)) for b in batches])
        ax.minorticks_off()
        ax.set_xlabel("batch size (images)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    title(fig, TITLES["scaling"], ok)
    _legend_below(fig, axes[:, :1])
    return fig


def make_figures(run_dir: str | Path) -> list[Path]:
    """Draw every chart this run has data for; returns the PNG paths (an SVG sits beside each)."""
    run = Path(run_dir)
    summary, steps, _ = read_run(run)
    ok = sort_cases(summary[summary["status"] == "ok"])
    if ok.empty:
        return []
    timed = step_samples(steps)
    figures = {"latency": latency(ok, timed), "lrn_cost": lrn_cost(ok), "timeline": timeline(ok, steps),
               "distribution": distribution(ok, timed), "throughput": throughput(ok), "scaling": scaling(ok)}
    return [save(fig, run / FIGURES, name) for name, fig in figures.items() if fig is not None]
