"""Synthetic run folders (summary.csv, steps.csv, env.json) with seeded random step times."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from harness.core.cases import Case
from harness.core.files import write_json
from harness.results.schema import ENV_JSON, STEPS_COLUMNS, STEPS_CSV, SUMMARY_COLUMNS, SUMMARY_CSV
from harness.results.stats import statistics
from harness.results.tables import write_table

# Median seconds per batch 32 on the synthetic machine, by framework, mode and LRN.
BASE_S = {"tensorflow": 0.040, "torch": 0.030, "jax": 0.035}
MODE_FACTOR = {"forward": 1.0, "forward_backward": 3.0, "train_step": 3.4}
LRN_FACTOR = {True: 2.5, False: 1.0}
PRECISION_FACTOR = {"fp32": 1.0, "bf16": 0.6, "fp16": 0.55}
VARIANT_FACTOR = {"default": 1.0, "eager": 1.8, "xla": 0.8, "compile": 0.85, "session": 1.05}
LAYOUT_FACTOR = {"native": 1.0, "nhwc": 0.9, "nchw": 1.15}
# Every execution variant and layout each framework has (frameworks.REGISTRY), for write_run.
ALL_VARIANTS = {"tensorflow": ("default", "eager", "xla"), "torch": ("default", "compile"), "jax": ("default",),
                "tf1-seed": ("session",)}
ALL_LAYOUTS = {"tensorflow": ("native", "nchw"), "torch": ("native", "nhwc"), "jax": ("native",),
               "tf1-seed": ("native",)}
FLOPS_PER_IMAGE = 1.32e9
COMPILE_S = 1.5

ENV = {"run_id": "synthetic", "started": "2025-01-01T00:00:00+00:00",
       "finished": "2025-01-01T00:10:00+00:00", "command": "alexbench run", "python": "3.11.9",
       "os": "Linux-6.1-x86_64", "cpu_model": "Synthetic CPU 9000", "cpu_count": 16,
       "frameworks": {"tensorflow": "2.16.1", "torch": "2.3.0", "jax": "0.4.30"}, "gpu": None,
       "git_commit": "abc123", "threads": "default", "device": "cpu", "interrupted": False, "busy": False,
       "load_average": 0.5}
FAILED = {"framework": "jax", "mode": "forward_backward", "lrn": True, "status": "oom",
          "error": "RESOURCE_EXHAUSTED: out of memory | allocating 1.2GiB"}


def case(framework: str, mode: str, lrn: bool, batch_size: int = 32, variant: str = "default",
         precision: str = "fp32", layout: str = "native") -> dict:
    return Case(framework, mode, lrn, mode == "train_step", batch_size, 224, variant, precision, layout).columns()


def _per_framework(values, framework: str, absent: str) -> tuple:
    """``values`` for every framework, or a dict of them by framework (a framework not in it: ``absent``)."""
    return values.get(framework, (absent,)) if isinstance(values, dict) else values


def write_run(path: Path, frameworks=tuple(BASE_S), modes=("forward", "forward_backward"), lrns=(True, False),
              batch_sizes=(32,), variants=("default",), precisions=("fp32",), layouts=("native",),
              slowdown: float = 1.0, seed: int = 0, steps: int = 40, burn_in: int = 5,
              failed: tuple[dict, ...] = (), env: dict | None = None) -> Path:
    """Write a run folder; a case matching one of ``failed`` (by its key columns) gets that status.

    ``variants`` and ``layouts`` are tuples for every framework or dicts by framework (ALL_VARIANTS,
    ALL_LAYOUTS). With ``env`` {"peak_gflops": rate} every ok case gets its pct_of_peak."""
    rng = np.random.default_rng(seed)
    rate = (env or {}).get("peak_gflops")
    summary, step_rows = [], []
    keys = [case(fw, mode, lrn, batch, variant, precision, layout)
            for fw, mode, lrn, batch, precision in itertools.product(frameworks, modes, lrns, batch_sizes, precisions)
            for variant in _per_framework(variants, fw, "default")
            for layout in _per_framework(layouts, fw, "native")]
    for key in keys:
        fw, mode, lrn, batch = key["framework"], key["mode"], key["lrn"], key["batch_size"]
        row = key | {"framework_version": ENV["frameworks"].get(fw, "1.0"), "device": "cpu",
                     "device_name": ENV["cpu_model"], "threads": "default", "burn_in": burn_in,
                     "steps": steps, "busy": False, "unstable": False, "status": "ok", "error": ""}
        problem = next((f for f in failed if all(key.get(k) == v for k, v in f.items() if k in key)), None)
        if problem:
            summary.append(row | {"status": problem["status"], "error": problem["error"]})
            continue
        median = (BASE_S.get(fw, 0.05) * MODE_FACTOR[mode] * LRN_FACTOR[lrn] * batch / 32 * slowdown
                  * PRECISION_FACTOR[key["precision"]] * VARIANT_FACTOR[key["variant"]] * LAYOUT_FACTOR[key["layout"]])
        timed = median * rng.lognormal(0.0, 0.03, steps)
        burn = np.concatenate([[COMPILE_S], median * rng.lognormal(0.1, 0.05, burn_in - 1)])
        flops = FLOPS_PER_IMAGE * batch * MODE_FACTOR[mode]
        stats = statistics(timed, batch, flops)
        summary.append(row | stats | {
            "compile_s": burn[0], "peak_mem_bytes": (200 + 50 * MODE_FACTOR[mode]) * 2**20 * batch / 32,
            "step_mem_bytes": 40 * MODE_FACTOR[mode] * 2**20 * batch / 32,
            "pct_of_peak": 100 * stats["gflops_per_s"] / rate if rate else None})
        step_rows += [key | {"rank": 0, "phase": phase, "step": i, "seconds": s}
                      for phase, values in (("burn_in", burn), ("timed", timed))
                      for i, s in enumerate(values)]
    path.mkdir(parents=True, exist_ok=True)
    write_table(path / SUMMARY_CSV, summary, SUMMARY_COLUMNS)
    write_table(path / STEPS_CSV, step_rows, STEPS_COLUMNS)
    write_json(path / ENV_JSON, ENV | {"run_id": path.name} | (env or {}))
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under ``folder``, to show that nothing was changed."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}
