"""The rows a finished worker's result becomes: summary.csv, steps.csv and layers.csv."""

from __future__ import annotations

from harness.core.cases import CASE_KEY, Case

from .schema import LAYER_STATS
from .stats import pct_of_peak, statistics

# What a distributed case's worker reports beside its times, copied into its row.
COMM_COLUMNS = ("comm_backend", "allreduce_s", "comm_bytes", "param_bytes", "optimizer_bytes")


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
        global_batch = case.batch_size * case.workers  # a step's time is the slowest rank's, for every rank's images
        row |= statistics(result["timed"], global_batch, result["flops"] * case.workers)
        if peak_gflops and case.nodes == 1:  # the workers' ceiling: each worker's (the peak at its threads) N times
            row["pct_of_peak"] = pct_of_peak(row["gflops_per_s"], peak_gflops * case.workers)
        row |= {"compile_s": result["burn_in"][0], "peak_mem_bytes": result["peak_mem_bytes"],
                "step_mem_bytes": result["step_mem_bytes"], "global_batch": global_batch}
        if case.distributed:
            row |= {k: result[k] for k in COMM_COLUMNS} | {"comm_share": result["allreduce_s"] / row["median_s"]}
    return row


def step_rows(case: Case, result: dict) -> list[dict]:
    """steps.csv rows: every burn-in step (the first is the compile step), then every timed one, of every rank."""
    base = case.columns()
    ranks = {phase: result.get(f"rank_{phase}", [result.get(phase, [])]) for phase in ("burn_in", "timed")}
    return [base | {"rank": rank, "phase": phase, "step": i, "seconds": s}
            for phase in ("burn_in", "timed") for rank, times in enumerate(ranks[phase]) for i, s in enumerate(times)]


def fill_scaling_efficiency(rows: list[dict]) -> None:
    """Each distributed row's images/s over its workers times that of the same case at one worker (same threads
    per worker), where the rows have that case."""
    match = [c for c in CASE_KEY if c not in ("workers", "nodes")] + ["threads"]
    single = {tuple(r[c] for c in match): r["images_per_s"] for r in rows
              if r["status"] == "ok" and r["parallel"] != "none" and r["workers"] == 1}
    for r in rows:
        one = single.get(tuple(r[c] for c in match)) if r["status"] == "ok" and r["parallel"] != "none" else None
        r["scaling_efficiency"] = r["images_per_s"] / (r["workers"] * one) if one else float("nan")


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
