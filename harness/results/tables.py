"""Reading and writing the run folder's tables (pandas): checked columns and types, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.cases import CASE_KEY
from harness.core.errors import UserError
from harness.core.files import write_atomic

from .schema import (
    BOOLEAN,
    ENV_JSON,
    FORMAT_VERSION,
    LATER_COLUMNS,
    NUMERIC,
    STEPS_COLUMNS,
    STEPS_CSV,
    SUMMARY_COLUMNS,
    SUMMARY_CSV,
    TEXT,
)


class ResultsError(UserError):
    """A run folder or results file that cannot be read."""


def write_table(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Write ``rows`` as CSV with exactly ``columns``, atomically."""
    frame = pd.DataFrame(rows, columns=columns)
    write_atomic(path, frame.to_csv(index=False))


def _to_bool(series: pd.Series, name: str, path: Path) -> pd.Series:
    mapping = {"true": True, "false": False, "1": True, "0": False}
    lowered = series.astype(str).str.strip().str.lower()
    bad = ~lowered.isin(list(mapping))
    if bad.any():
        raise ResultsError(f"{path}: column {name} has a value that is not true/false: {series[bad].iloc[0]!r}")
    return lowered.map(mapping).astype(bool)


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read a CSV, checking the required columns and their types."""
    if not path.is_file():
        raise ResultsError(f"{path} does not exist")
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dict.fromkeys(TEXT, str))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path} is not a readable CSV: {str(e).splitlines()[0]}") from None
    for name, value in LATER_COLUMNS.items():
        if name in columns and name not in frame.columns:
            frame[name] = value
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path} lacks the column(s) {', '.join(missing)}")
    for name in columns:
        if name in NUMERIC:
            converted = pd.to_numeric(frame[name], errors="coerce")
            bad = converted.isna() & frame[name].notna()
            if bad.any():
                value = frame[name][bad].iloc[0]
                raise ResultsError(f"{path}: column {name} has a value that is not a number: {value!r}")
            frame[name] = converted
        elif name in BOOLEAN:
            frame[name] = _to_bool(frame[name], name, path)
    for name in TEXT:
        if name in frame.columns:
            frame[name] = frame[name].fillna("").astype(str)
    return frame


def read_env(run: Path) -> dict:
    """env.json (empty when the run has none); a format newer than this alexbench reads is refused."""
    if not (run / ENV_JSON).is_file():
        return {}
    try:
        env = json.loads((run / ENV_JSON).read_text())
    except json.JSONDecodeError as e:
        raise ResultsError(f"{run / ENV_JSON} is not valid JSON: {e}") from None
    version = env.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ResultsError(f"{run} has results format {version!r}; this alexbench reads formats up to "
                           f"{FORMAT_VERSION}: upgrade it")
    return env


def read_run(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """summary, steps and env of a run folder; ResultsError says what is wrong."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ResultsError(f"run folder {run} does not exist")
    env = read_env(run)
    summary = read_table(run / SUMMARY_CSV, SUMMARY_COLUMNS)
    if summary.empty:
        raise ResultsError(f"{run / SUMMARY_CSV} has no rows")
    steps = read_table(run / STEPS_CSV, STEPS_COLUMNS)
    return summary, steps, env


def newest_run(results_root: str | Path = "results") -> Path:
    """The most recent run folder under ``results_root`` (run ids sort by time)."""
    root = Path(results_root)
    runs = sorted(p for p in root.glob("*") if p.is_dir() and (p / SUMMARY_CSV).exists()) if root.is_dir() else []
    if not runs:
        raise ResultsError(f"no run folder with a {SUMMARY_CSV} under {root}")
    return runs[-1]


def step_samples(steps: pd.DataFrame, phase: str = "timed") -> dict[tuple, np.ndarray]:
    """Seconds of each step of ``phase``, in step order, by case key; a step of several ranks takes the slowest
    rank's time."""
    rows = steps[steps["phase"] == phase]
    slowest = rows.groupby([*CASE_KEY, "step"], sort=False)["seconds"].max().reset_index().sort_values("step")
    return {key: group["seconds"].to_numpy() for key, group in slowest.groupby(CASE_KEY, sort=False)}
