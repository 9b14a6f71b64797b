"""The run folder's files: CSV schemas, atomic writes, and checked reads (pandas)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from .errors import UserError

# What identifies a case; every summary and steps row carries these columns.
CASE_KEY = ["framework", "variant", "mode", "lrn", "heads", "batch_size", "image_size", "precision", "layout"]

SUMMARY_COLUMNS = CASE_KEY + [
    "framework_version", "device", "device_name", "threads", "tf32", "burn_in", "steps",
    "compile_s", "mean_s", "std_s", "median_s", "iqr_s", "min_s", "max_s", "p95_s",
    "images_per_s", "gflops", "gflops_per_s", "pct_of_peak", "peak_mem_bytes", "unstable", "busy",
    "status", "error",
]
STEPS_COLUMNS = CASE_KEY + ["phase", "step", "seconds"]
STATUSES = ("ok", "failed", "timeout", "oom", "unavailable", "unsupported")
NUMERIC = {
    "batch_size", "image_size", "burn_in", "steps", "compile_s", "mean_s", "std_s",
    "median_s", "iqr_s", "min_s", "max_s", "p95_s", "images_per_s", "gflops",
    "gflops_per_s", "pct_of_peak", "peak_mem_bytes", "step", "seconds",
}
BOOLEAN = {"lrn", "heads", "unstable", "busy"}
TEXT = ("framework", "variant", "mode", "precision", "layout", "framework_version", "device", "device_name",
        "threads", "tf32", "status", "error", "phase")

# Columns added after the first runs: an older file without them reads with these values.
LATER_COLUMNS = {"layout": "native", "tf32": "", "pct_of_peak": float("nan")}

SUMMARY_CSV, STEPS_CSV, ENV_JSON, RUN_LOG = "summary.csv", "steps.csv", "env.json", "run.log"


class ResultsError(UserError):
    """A run folder or results file that cannot be read."""


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename: readers see the old or the new file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Write ``rows`` as CSV with exactly ``columns``, atomically."""
    frame = pd.DataFrame(rows, columns=columns)
    write_atomic(path, frame.to_csv(index=False))


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


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


def read_run(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """summary, steps and env of a run folder; ResultsError says what is wrong."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ResultsError(f"run folder {run} does not exist")
    summary = read_table(run / SUMMARY_CSV, SUMMARY_COLUMNS)
    if summary.empty:
        raise ResultsError(f"{run / SUMMARY_CSV} has no rows")
    steps = read_table(run / STEPS_CSV, STEPS_COLUMNS)
    env: dict = {}
    if (run / ENV_JSON).is_file():
        try:
            env = json.loads((run / ENV_JSON).read_text())
        except json.JSONDecodeError as e:
            raise ResultsError(f"{run / ENV_JSON} is not valid JSON: {e}") from None
    return summary, steps, env


def newest_run(results_root: str | Path = "results") -> Path:
    """The most recent run folder under ``results_root`` (run ids sort by time)."""
    root = Path(results_root)
    runs = sorted(p for p in root.glob("*") if p.is_dir() and (p / SUMMARY_CSV).exists()) if root.is_dir() else []
    if not runs:
        raise ResultsError(f"no run folder with a {SUMMARY_CSV} under {root}")
    return runs[-1]
