"""``alexbench targets [RUN_DIR]``: a run's figures against the performance targets (issue 6).

Checked from a run's files, not by timed unit tests: the best variant of each framework at
batch 32, 224, fp32, LRN on reaches 70% of the measured peak forward and 55% forward_backward;
TensorFlow's default variant is no slower than the seed's TF1 program (slower medians count only
when a one-sided Mann-Whitney U test on the timed steps says so at p < 0.01: two programs whose
medians differ by less than the machine's noise are not told apart; a miss points to ``alexbench ab``,
which times both in one process, free of the drift between processes); the harness adds under 20 us
per step and spends under 25% of the wall time outside timed steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.cases import key_of
from harness.results.tables import read_run, step_samples

from .significance import SIGNIFICANT_P, mann_whitney_p

PCT_TARGETS = {"forward": 70.0, "forward_backward": 55.0}
OVERHEAD_TARGET_S, OUTSIDE_TARGET = 20e-6, 0.25
SEED_SETTING = {"batch_size": 32, "image_size": 224, "precision": "fp32", "lrn": True, "heads": False}


def _seed_rows(summary: pd.DataFrame) -> pd.DataFrame:
    ok = summary[summary["status"] == "ok"]
    for column, value in SEED_SETTING.items():
        ok = ok[ok[column] == value]
    return ok


def check(run_dir: str | Path) -> tuple[list[str], bool]:
    """Lines to print, and whether every target that the run can judge is met."""
    summary, steps, env = read_run(run_dir)
    rows, lines, met = _seed_rows(summary), [], True

    def verdict(ok: bool) -> str:
        nonlocal met
        met &= ok
        return "ok  " if ok else "MISS"

    if rows.empty:
        lines.append("no ok case at batch 32, 224x224, fp32, LRN on: the % of peak targets cannot be judged")
    elif rows["pct_of_peak"].isna().all():
        lines.append("the run has no peak measurement (--peak-seconds 0): the % of peak targets cannot be judged")
    else:
        lines.append(f"machine peak: {env.get('peak_gflops', float('nan')):.1f} GFLOP/s")
        for (fw, mode), group in rows.groupby(["framework", "mode"], sort=False):
            if mode not in PCT_TARGETS:
                continue
            best = group.loc[group["pct_of_peak"].idxmax()]
            target = PCT_TARGETS[mode]
            lines.append(f"{verdict(best.pct_of_peak >= target)} {fw:<11} {mode:<17} best variant {best.variant!s:<8}"
                         f" {best.gflops_per_s:7.1f} GFLOP/s = {best.pct_of_peak:5.1f}% of peak (target {target:g}%)")
    tf_default = rows[(rows["framework"] == "tensorflow") & (rows["variant"] == "default")]
    tf = {r["mode"]: r for _, r in tf_default.iterrows()}
    seed = {r["mode"]: r for _, r in rows[rows["framework"] == "tf1-seed"].iterrows()}
    samples = step_samples(steps)
    for mode in [m for m in tf if m in seed]:
        ratio = tf[mode]["median_s"] / seed[mode]["median_s"]
        p = mann_whitney_p(samples.get(key_of(tf[mode])), samples.get(key_of(seed[mode])), alternative="greater")
        slower = ratio > 1.0 and p < SIGNIFICANT_P
        if ratio <= 1.0:
            why = "not slower"
        elif np.isnan(p):
            why = "slower (no timed steps to test)"
        else:
            why = f"{'slower' if slower else 'not significantly slower'}: one-sided Mann-Whitney p = {p:.2g}"
        lines.append(f"{verdict(ratio <= 1.0 or p >= SIGNIFICANT_P)} tensorflow default vs the seed's TF1 program, "
                     f"{mode}: {tf[mode]['median_s'] * 1e3:.1f} ms vs {seed[mode]['median_s'] * 1e3:.1f} ms "
                     f"(ratio {ratio:.3f}, {why}; target: not slower at p < {SIGNIFICANT_P:g})")
        if slower:
            lines.append("     two processes of one program can differ as much on a shared machine: "
                         "`alexbench ab tensorflow tf1-seed` times both in one process")
    harness = env.get("harness") or {}
    if harness.get("overhead_per_step_s") is not None:
        overhead = harness["overhead_per_step_s"]
        lines.append(f"{verdict(overhead < OVERHEAD_TARGET_S)} harness overhead per step: {overhead * 1e6:.2f} us "
                     f"(target < {OVERHEAD_TARGET_S * 1e6:g} us)")
    if harness.get("outside_timed_steps_s") is not None and harness.get("wall_s"):
        share = harness["outside_timed_steps_s"] / harness["wall_s"]
        lines.append(f"{verdict(share < OUTSIDE_TARGET)} time outside timed steps: "
                     f"{harness['outside_timed_steps_s']:.0f} s of {harness['wall_s']:.0f} s = {share:.0%} "
                     f"(target < {OUTSIDE_TARGET:.0%})")
    return lines, met
