"""Two runs case by case: each median, the ratio B/A, and a Mann-Whitney U test on the raw timed steps
(harness.present draws the ratio chart and the table)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.cases import CASE_KEY, key_of
from harness.core.errors import UserError
from harness.results.naming import case_label, device_text, sort_cases, varied
from harness.results.tables import read_run, step_samples

from .significance import SIGNIFICANT_P, mann_whitney_p

MACHINE_KEYS = ("cpu_model", "cpu_count", "gpu", "os", "python")


class CompareError(UserError):
    """Two runs that cannot be compared."""


@dataclass
class CompareResult:
    """``table``: a row per common case with case, framework, median_a_s, median_b_s, ratio (B/A),
    p_value and significant."""

    run_a: Path
    run_b: Path
    table: pd.DataFrame
    only_a: list[str]
    only_b: list[str]
    warnings: list[str]
    fail_above: float | None = None

    @property
    def failing(self) -> pd.DataFrame:
        """Significant slowdowns over ``fail_above`` (none when it is not set)."""
        if self.fail_above is None:
            return self.table.iloc[:0]
        return self.table[self.table["significant"] & (self.table["ratio"] > self.fail_above)]

    @property
    def exit_code(self) -> int:
        return 1 if len(self.failing) else 0


def _gpu_text(gpu) -> str:
    if not isinstance(gpu, dict):
        return "none"
    return " ".join(f"{k} {gpu[k]}" for k in ("name", "driver", "cuda") if gpu.get(k)) or "unnamed GPU"


def env_differences(env_a: dict, env_b: dict) -> list[str]:
    """What differs between the machines and software of two runs, one phrase per difference."""
    if not env_a or not env_b:
        return ["one run has no env.json: cannot tell whether both ran on the same machine and software"]
    diffs = []
    for key in MACHINE_KEYS:
        a, b = env_a.get(key), env_b.get(key)
        if key == "gpu":
            a, b = _gpu_text(a), _gpu_text(b)
        if a != b:
            diffs.append(f"{key} {a} vs {b}")
    versions_a, versions_b = env_a.get("frameworks") or {}, env_b.get("frameworks") or {}
    for name in sorted(set(versions_a) | set(versions_b)):
        if versions_a.get(name) != versions_b.get(name):
            diffs.append(f"{name} {versions_a.get(name, 'absent')} vs {versions_b.get(name, 'absent')}")
    return diffs


def _warnings(summary_a: pd.DataFrame, env_a: dict, summary_b: pd.DataFrame, env_b: dict) -> list[str]:
    warnings = []
    diffs = env_differences(env_a, env_b)
    if diffs:
        warnings.append("the runs differ in machine or software (A vs B): " + "; ".join(diffs))
    devices = device_text(summary_a), device_text(summary_b)
    if devices[0] != devices[1]:
        warnings.append(f"the runs used different devices: {devices[0]} vs {devices[1]}")
    for name, summary, env in (("A", summary_a, env_a), ("B", summary_b, env_b)):
        if env.get("busy") or summary["busy"].any():
            warnings.append(f"run {name} ran on a busy machine: its times may be slow and noisy")
        if env.get("interrupted"):
            warnings.append(f"run {name} was interrupted: some of its cases are missing")
    return warnings


def _only(ok: pd.DataFrame, other: pd.DataFrame, name: str, common: set, extras: list[str]) -> list[str]:
    """Labels of ``ok``'s cases not comparable with run ``name``, with their status there if it has them."""
    status = {key_of(r): r["status"] for _, r in other.iterrows()}
    return [case_label(r, extras) + (f" (in {name}: {status[key_of(r)]})" if key_of(r) in status else "")
            for _, r in ok.iterrows() if key_of(r) not in common]


def compare_runs(run_a: str | Path, run_b: str | Path, fail_above: float | None = None) -> CompareResult:
    """Match the ok cases of two runs."""
    run_a, run_b = Path(run_a), Path(run_b)
    summary_a, steps_a, env_a = read_run(run_a)
    summary_b, steps_b, env_b = read_run(run_b)
    ok_a, ok_b = (sort_cases(s[s["status"] == "ok"]) for s in (summary_a, summary_b))
    common = {key_of(r) for _, r in ok_a.iterrows()} & {key_of(r) for _, r in ok_b.iterrows()}
    if not common:
        raise CompareError(f"{run_a} and {run_b} have no successful case in common "
                           f"({len(ok_a)} and {len(ok_b)} successful cases)")
    extras = varied(pd.concat([ok_a, ok_b]))
    samples_a, samples_b = step_samples(steps_a), step_samples(steps_b)
    matched = ok_a.merge(ok_b[CASE_KEY + ["median_s"]], on=CASE_KEY, suffixes=("_a", "_b"))
    table = pd.DataFrame({
        "case": [case_label(r, extras) for _, r in matched.iterrows()],
        "framework": matched["framework"],
        "median_a_s": matched["median_s_a"],
        "median_b_s": matched["median_s_b"],
        "ratio": matched["median_s_b"] / matched["median_s_a"],
        "p_value": [mann_whitney_p(samples_a.get(key_of(r), np.array([])), samples_b.get(key_of(r), np.array([])))
                    for _, r in matched.iterrows()],
    })
    table["significant"] = table["p_value"] < SIGNIFICANT_P
    return CompareResult(
        run_a=run_a, run_b=run_b, table=table,
        only_a=_only(ok_a, summary_b, "B", common, extras),
        only_b=_only(ok_b, summary_a, "A", common, extras),
        warnings=_warnings(summary_a, env_a, summary_b, env_b), fail_above=fail_above)
