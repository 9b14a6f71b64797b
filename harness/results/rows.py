"""The rows a finished worker's result becomes: summary.csv, steps.csv and layers.csv."""

from __future__ import annotations

from harness.core.cases import Case

from .schema import LAYER_STATS
from .stats import pct_of_peak, statistics


def summary_row(case: Case, result: dict, busy: bool, peak_gflops: float | None = None) -> dict:
    """One summary.csv row; timing columns stay empty unless the case ran."""
    describe = result.get("describe", {})
    row = case.columns() | {
        "framework_version": describe.get("framework_version", ""),
        "device": describe.get("device", case.device),
        "device_name": describe.get("device_name", ""),
        "threads": describe.get("threads", "default" if case.threads is None else str(case.threads)),
        "tf32": str(describe.get("tf32", "default" if case.tf32 is None else case.tf32)),
        "burn_in": case.burn_in, "steps": case.steps, "busy": busy, "unstable": False,
        "status": result["status"], "error": result.get("error", ""),
    }
    if result["status"] == "ok":
        row |= statistics(result["timed"], case.batch_size, result["flops"])
        if peak_gflops:
            row["pct_of_peak"] = pct_of_peak(row["gflops_per_s"], peak_gflops)
        row["compile_s"] = result["burn_in"][0]
        row["peak_mem_bytes"] = result["peak_mem_bytes"]
        row["step_mem_bytes"] = result["step_mem_bytes"]
    return row


def step_rows(case: Case, result: dict) -> list[dict]:
    """steps.csv rows: every burn-in step (the first is the compile step), then every timed one."""
    base = case.columns()
    return [base | {"phase": phase, "step": i, "seconds": s}
            for phase in ("burn_in", "timed") for i, s in enumerate(result.get(phase, []))]


def layer_rows(case: Case, result: dict) -> list[dict]:
    """``layers.csv`` rows of a layers job's result; none unless it ran (the run's log has its error)."""
    if result["status"] != "ok":
        return []
    rows = []
    for item in result["layers"]:
        stats = statistics(item["timed"], case.batch_size, item["flops"])
        rows.append(case.columns() | {k: item[k] for k in ("layer", "kind", "direction")} |
                    {k: stats[k] for k in LAYER_STATS} | {"flops": item["flops"],
                     "gflops_per_s": stats["gflops_per_s"] if item["flops"] else float("nan")})
    return rows
