"""A run's charts (PNG and SVG in ``<run>/figures/``), drawn from summary.csv and steps.csv only.

Only cases with status ok are drawn; a chart with nothing to show in this run is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.core.cases import CASE_KEY, key_of
from harness.results.naming import (
    OWN_SETTINGS,
    SEED_GPU_SECONDS,
    case_label,
    mode_order,
    sort_cases,
    value_order,
    varied,
)
from harness.results.tables import ResultsError, read_run, step_samples

from . import layerchart, settingcharts, workerschart
from .style import (
    FIGURES,
    axis_label,
    bar_panels,
    color,
    grouped_order,
    hatch_map,
    hbars,
    legend_below,
    log_if_spread,
    save,
    subplots,
    title,
)

# Each chart's file name and title, in the order the report shows them.
TITLES = {
    "latency": "Latency per batch (lower is better)",
    "throughput": "Throughput at the median step time (higher is better)",
    **settingcharts.TITLES,
    "lrn_cost": "Cost of LRN: time with LRN over time without",
    "timeline": "Every step in run order",
    "distribution": "Spread of the timed steps",
    "layers": layerchart.TITLE,
    "workers": workerschart.TITLE,
}
BURN_IN_COLOR = "#dddddd"


def peak_percentages(summary: pd.DataFrame) -> pd.Series | None:
    """The optional pct_of_peak column as numbers; None when the run has no such values."""
    if "pct_of_peak" not in summary.columns:
        return None
    values = pd.to_numeric(summary["pct_of_peak"], errors="coerce")
    bad = values.isna() & summary["pct_of_peak"].notna()
    if bad.any():
        raise ResultsError(f"summary.csv: column pct_of_peak has a value that is not a number: "
                           f"{summary['pct_of_peak'][bad].iloc[0]!r}")
    return None if values.isna().all() else values


def _variant_hatches(frame: pd.DataFrame) -> list[str]:
    """Default variants solid, the others hatched."""
    hatches = hatch_map(value_order("variant", frame["variant"]), "default")
    return [hatches[v] for v in frame["variant"]]


def latency(ok: pd.DataFrame, timed: dict[tuple, np.ndarray]) -> Figure:
    """Median ms per batch with interquartile range, a panel per mode and LRN setting; the frameworks
    that ran the same setting (precision, batch size...) stand together."""
    frame = grouped_order(ok, varied(ok, exclude=OWN_SETTINGS))
    fig, panels = bar_panels(frame)
    for ax, panel in panels:
        median = panel["median_s"].to_numpy() * 1e3
        # a case without step rows gets a zero-length error bar
        quartiles = np.array([np.percentile(timed.get(key_of(r), [r["median_s"]]), [25, 75]) * 1e3
                              for _, r in panel.iterrows()])
        errors = np.clip(np.vstack([median - quartiles[:, 0], quartiles[:, 1] - median]), 0, None)
        extras = varied(panel)
        log = hbars(ax, panel, median, [f"{m:.2f}" for m in median],
                    [case_label(r, extras, parts=("framework",)) for _, r in panel.iterrows()],
                    hatches=_variant_hatches(panel), errors=errors)
        ax.set_xlabel(axis_label("time per batch: median, whiskers span the IQR", "ms", log))
    title(fig, TITLES["latency"], ok)
    return fig


def lrn_cost(ok: pd.DataFrame) -> Figure | None:
    """Median with LRN over median without, per case, a panel per mode; the seed's GPU ratio as a line."""
    others = [c for c in CASE_KEY if c != "lrn"]
    on, off = (ok[ok["lrn"] == flag].set_index(others)["median_s"] for flag in (True, False))
    ratio = (on / off).dropna()
    if ratio.empty:
        return None
    frame = ratio.rename("ratio").reset_index().assign(lrn=True)
    described = ok[CASE_KEY + ["device", "device_name", "framework_version"]]
    frame = grouped_order(frame.merge(described, on=CASE_KEY), varied(frame, exclude=OWN_SETTINGS))
    fig, panels = bar_panels(frame, split_lrn=False)
    for ax, panel in panels:
        mode, extras = panel["mode"].iloc[0], varied(panel)
        hbars(ax, panel, panel["ratio"].to_numpy(), [f"{r:.2f}x" for r in panel["ratio"]],
              [case_label(r, extras, parts=("framework",)) for _, r in panel.iterrows()],
              hatches=_variant_hatches(panel), log=False)
        if (mode, True) in SEED_GPU_SECONDS:
            seed = SEED_GPU_SECONDS[mode, True] / SEED_GPU_SECONDS[mode, False]
            ax.axvline(seed, color="black", linestyle=":", linewidth=1.5, label="the seed's ratio, on its GPU (2016)")
            ax.set_xlim(right=max(ax.get_xlim()[1], seed * 1.1))
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_xlabel("median with LRN / median without (x)")
    title(fig, TITLES["lrn_cost"], frame)
    legend_below(fig, [ax for ax, _ in panels])
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
        log = log_if_spread(ax, np.concatenate([np.concatenate([b, t]) for _, b, t in panel]))
        ax.set_title(mode)
        ax.set_ylabel(axis_label("time per step", "ms", log))
    axes[-1, 0].set_xlabel("step (burn-in, then timed steps)")
    title(fig, TITLES["timeline"], ok)
    legend_below(fig, axes)
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
        log = log_if_spread(ax, np.concatenate([ms for _, ms in panel]), axis="x")
        ax.set_title(mode, fontsize=10)
        ax.set_xlabel(axis_label("time per timed step", "ms", log))
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[-1, 0].set_xlabel(axes[-1, 0].get_xlabel() + "; box: quartiles, whiskers: 1.5 IQR")
    title(fig, TITLES["distribution"], ok)
    return fig


def throughput(ok: pd.DataFrame, peak_gflops: float | None = None) -> Figure:
    """Images/s and GFLOP/s per case (and percent of peak when the run has it), horizontal bars."""
    panels = {"images per second": ok["images_per_s"], "achieved GFLOP/s": ok["gflops_per_s"]}
    peak = peak_percentages(ok)
    if peak is not None:
        rate = f" ({peak_gflops:,.1f} GFLOP/s)" if peak_gflops else ""
        panels[f"percent of the machine's measured peak{rate}"] = peak
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
    axes[0, 0].set_ylim(-0.6, len(ok) - 0.4)
    title(fig, TITLES["throughput"], ok)
    return fig


def make_figures(run_dir: str | Path) -> list[Path]:
    """Draw every chart this run has data for; returns the PNG paths (an SVG sits beside each)."""
    run = Path(run_dir)
    summary, steps, env = read_run(run)
    ok = sort_cases(summary[summary["status"] == "ok"])
    if ok.empty:
        return []
    timed = step_samples(steps)
    figures = {"latency": latency(ok, timed), "throughput": throughput(ok, env.get("peak_gflops")),
               **{name: settingcharts.setting_chart(ok, name) for name in settingcharts.SETTINGS},
               "scaling": settingcharts.scaling(ok), "lrn_cost": lrn_cost(ok), "timeline": timeline(ok, steps),
               "distribution": distribution(ok, timed), "workers": workerschart.workers_chart(ok)}
    pngs = [save(fig, run / FIGURES, name) for name, fig in figures.items() if fig is not None]
    layers = layerchart.layer_figure(run)  # with --per-layer: where each framework spends its time
    return pngs + ([layers] if layers else [])
