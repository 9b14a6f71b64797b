"""The run folder's files and their columns, with the format version every run records.

Format 1: the first runs (no ``format_version`` in env.json). Format 2 adds ``step_mem_bytes``, the distributed
cases' columns (``workers``, ``nodes``, ``parallel`` in the case key; global batch, communication, scaling) and
steps.csv's ``rank``. A reader fills a column that an older format lacks with LATER_COLUMNS's value.
"""

from __future__ import annotations

from harness.core.cases import CASE_KEY

FORMAT_VERSION = 2

SUMMARY_COLUMNS = CASE_KEY + [
    "framework_version", "device", "device_name", "threads", "tf32", "burn_in", "steps",
    "compile_s", "mean_s", "std_s", "median_s", "iqr_s", "min_s", "max_s", "p95_s",
    "images_per_s", "gflops", "gflops_per_s", "pct_of_peak", "peak_mem_bytes", "step_mem_bytes",
    "global_batch", "comm_backend", "allreduce_s", "comm_share", "comm_bytes", "scaling_efficiency", "param_bytes",
    "optimizer_bytes", "unstable", "busy", "status", "error",
]
STEPS_COLUMNS = CASE_KEY + ["rank", "phase", "step", "seconds"]
LAYER_STATS = ["median_s", "mean_s", "std_s", "iqr_s"]
LAYERS_COLUMNS = CASE_KEY + ["layer", "kind", "direction", *LAYER_STATS, "flops", "gflops_per_s"]
STATUSES = ("ok", "failed", "timeout", "oom", "unavailable", "unsupported")
NUMERIC = {
    "batch_size", "image_size", "burn_in", "steps", "compile_s", "mean_s", "std_s",
    "median_s", "iqr_s", "min_s", "max_s", "p95_s", "images_per_s", "gflops",
    "gflops_per_s", "pct_of_peak", "peak_mem_bytes", "step_mem_bytes", "step", "seconds", "flops", "workers", "nodes",
    "global_batch", "allreduce_s", "comm_share", "comm_bytes", "scaling_efficiency", "param_bytes", "optimizer_bytes",
    "rank",
}
BOOLEAN = {"lrn", "heads", "unstable", "busy"}
TEXT = ("framework", "variant", "mode", "precision", "layout", "parallel", "framework_version", "device", "device_name",
        "threads", "tf32", "comm_backend", "status", "error", "phase", "layer", "kind", "direction")

# Columns added after the first runs: an older file without them reads with these values.
LATER_COLUMNS = {"layout": "native", "tf32": "", "pct_of_peak": float("nan"), "step_mem_bytes": float("nan"),
                 "workers": 1, "nodes": 1, "parallel": "none", "global_batch": float("nan"), "comm_backend": "",
                 "allreduce_s": float("nan"), "comm_share": float("nan"), "comm_bytes": float("nan"),
                 "scaling_efficiency": float("nan"), "param_bytes": float("nan"), "optimizer_bytes": float("nan"),
                 "rank": 0}

SUMMARY_CSV, STEPS_CSV, LAYERS_CSV, ENV_JSON, RUN_LOG = "summary.csv", "steps.csv", "layers.csv", "env.json", "run.log"
