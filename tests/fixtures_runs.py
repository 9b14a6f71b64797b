"""Synthetic run folders (summary.csv, steps.csv, env.json) with seeded random step times."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from harness.results import (
    ENV_JSON,
    STEPS_COLUMNS,
    STEPS_CSV,
    SUMMARY_COLUMNS,
    SUMMARY_CSV,
    write_json,
    write_table,
)
from harness.timing import statistics

# Median seconds per batch 32 on the synthetic machine, by framework, mode and LRN.
BASE_S = {"tensorflow": 0.040, "torch": 0.030, "jax": 0.035}
MODE_FACTOR = {"forward": 1.0, "forward_backward": 3.0}
LRN_FACTOR = {True: 2.5, False: 1.0}
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


def case(framework: str, mode: str, lrn: bool, batch_size: int = 32, variant: str = "default") -> dict:
    return {"framework": framework, "variant": variant, "mode": mode, "lrn": lrn, "heads": False,
            "batch_size": batch_size, "image_size": 224, "precision": "fp32", "layout": "native"}


def write_run(path: Path, frameworks=tuple(BASE_S), modes=tuple(MODE_FACTOR), lrns=(True, False),
              batch_sizes=(32,), variants=("default",), slowdown: float = 1.0, seed: int = 0, steps: int = 40,
              burn_in: int = 5, failed: tuple[dict, ...] = (), env: dict | None = None) -> Path:
    """Write a run folder; a case matching one of ``failed`` (by its key columns) gets that status."""
    rng = np.random.default_rng(seed)
    summary, step_rows = [], []
    for fw, mode, lrn, batch, variant in itertools.product(frameworks, modes, lrns, batch_sizes, variants):
        key = case(fw, mode, lrn, batch, variant)
        row = key | {"framework_version": ENV["frameworks"].get(fw, "1.0"), "device": "cpu",
                     "device_name": ENV["cpu_model"], "threads": "default", "burn_in": burn_in,
                     "steps": steps, "busy": False, "unstable": False, "status": "ok", "error": ""}
        problem = next((f for f in failed if all(key.get(k) == v for k, v in f.items() if k in key)), None)
        if problem:
            summary.append(row | {"status": problem["status"], "error": problem["error"]})
            continue
        median = BASE_S.get(fw, 0.05) * MODE_FACTOR[mode] * LRN_FACTOR[lrn] * batch / 32 * slowdown
        timed = median * rng.lognormal(0.0, 0.03, steps)
        burn = np.concatenate([[COMPILE_S], median * rng.lognormal(0.1, 0.05, burn_in - 1)])
        flops = FLOPS_PER_IMAGE * batch * MODE_FACTOR[mode]
        summary.append(row | statistics(timed, batch, flops) | {
            "compile_s": burn[0], "peak_mem_bytes": (200 + 50 * MODE_FACTOR[mode]) * 2**20 * batch / 32})
        step_rows += [key | {"phase": phase, "step": i, "seconds": s}
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
