"""The run folder's files and their columns, with the format version every run records.

Format 1: the first runs (no ``format_version`` in env.json). Format 2 adds ``step_mem_bytes``. A reader
fills a column that an older format lacks with LATER_COLUMNS's value.
"""

from __future__ import annotations

from harness.core.cases import CASE_KEY

FORMAT_VERSION = 2

SUMMARY_COLUMNS = CASE_KEY + [
    "framework_version", "device", "device_name", "threads", "tf32", "burn_in", "steps",
    "compile_s", "mean_s", "std_s", "median_s", "iqr_s", "min_s", "max_s", "p95_s",
    "images_per_s", "gflops", "gflops_per_s", "pct_of_peak", "peak_mem_bytes", "step_mem_bytes", "unstable", "busy",
    "status", "error",
]
STEPS_COLUMNS = CASE_KEY + ["phase", "step", "seconds"]
LAYER_STATS = ["median_s", "mean_s", "std_s", "iqr_s"]
LAYERS_COLUMNS = CASE_KEY + ["layer", "kind", "direction", *LAYER_STATS, "flops", "gflops_per_s"]
STATUSES = ("ok", "failed", "timeout", "oom", "unavailable", "unsupported")
NUMERIC = {
    "batch_size", "image_size", "burn_in", "steps", "compile_s", "mean_s", "std_s",
    "median_s", "iqr_s", "min_s", "max_s", "p95_s", "images_per_s", "gflops",
    "gflops_per_s", "pct_of_peak", "peak_mem_bytes", "step_mem_bytes", "step", "seconds", "flops",
}
BOOLEAN = {"lrn", "heads", "unstable", "busy"}
TEXT = ("framework", "variant", "mode", "precision", "layout", "framework_version", "device", "device_name",
        "threads", "tf32", "status", "error", "phase", "layer", "kind", "direction")

# Columns added after the first runs: an older file without them reads with these values.
LATER_COLUMNS = {"layout": "native", "tf32": "", "pct_of_peak": float("nan"), "step_mem_bytes": float("nan")}

SUMMARY_CSV, STEPS_CSV, LAYERS_CSV, ENV_JSON, RUN_LOG = "summary.csv", "steps.csv", "layers.csv", "env.json", "run.log"
