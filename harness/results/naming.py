"""How a run's cases are named and ordered, in every table, chart and analysis: reading order of the key
columns, a case's label, a setting's words (``graph (default)``, ``NCHW (native)``), speed-ups."""

from __future__ import annotations

import pandas as pd

import frameworks  # names only: no framework is imported
from harness.core.cases import CASE_KEY

MODE_ORDER = ("forward", "forward_backward", "train_step")
FRAMEWORK_ORDER = ("tensorflow", "torch", "jax")
PRECISION_ORDER = ("fp32", "bf16", "fp16")
LAYOUT_ORDER = ("native", "nhwc", "nchw")
ORDERS = {"mode": MODE_ORDER, "framework": FRAMEWORK_ORDER, "variant": ("default",),
          "precision": PRECISION_ORDER, "layout": LAYOUT_ORDER}
# The key columns whose baseline value each setting comparison measures against.
BASELINES = {"precision": "fp32", "variant": "default", "layout": "native"}
# Settings whose values are each framework's own (xla is TensorFlow's, native means NCHW for PyTorch): a
# comparison of frameworks groups by the other settings, and reads these as part of the framework's choice.
OWN_SETTINGS = ("variant", "layout")
# Key columns named in a case's label only when they vary within the frame being drawn.
EXTRA_COLUMNS = ("variant", "precision", "layout", "heads", "batch_size", "image_size", "parallel", "workers", "nodes")
# The seed's published seconds per batch (batch 32, conv1..pool5, on its GPU in 2016), by (mode, LRN).
SEED_GPU_SECONDS = {("forward", True): 0.026, ("forward", False): 0.007,
                    ("forward_backward", True): 0.078, ("forward_backward", False): 0.025}


def _entry(framework: str) -> frameworks.Entry | None:
    """The registry entry of a framework named in a results file (None for one not registered here)."""
    return frameworks.REGISTRY.get(framework)


def reference_text(framework: str) -> str | None:
    """What a reference backend is (the seed's TF1 program); None for one of the frameworks."""
    entry = _entry(framework)
    return entry.reference if entry else None


def is_reference(frame: pd.DataFrame) -> pd.Series:
    """Rows of a reference backend: labelled as such and never ranked."""
    return frame["framework"].map(lambda fw: reference_text(fw) is not None)


def _ordered(values, first: tuple) -> list:
    present = set(values)
    return [v for v in first if v in present] + sorted(present - set(first))


def value_order(column: str, values) -> list:
    """The distinct ``values`` of a key column in reading order: the known ones first (forward before
    forward_backward, tensorflow before torch, the default variant, fp32 and the native layout first), then
    the others sorted."""
    return _ordered(values, ORDERS.get(column, ()))


def framework_order(names) -> list[str]:
    """tensorflow, torch, jax, then any other framework alphabetically."""
    return value_order("framework", names)


def mode_order(modes) -> list[str]:
    return value_order("mode", modes)


def sort_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in reading order: mode, LRN on before off, framework, the default variant first, fp32 first,
    the native layout first, then the other key columns."""
    keys = frame.assign(**{f"_{c}": frame[c].map(value_order(c, frame[c]).index) for c in ORDERS},
                        _lrn=~frame["lrn"])
    columns = ["_mode", "_lrn", "_framework", "_variant", "_precision", "_layout", "heads", "batch_size", "image_size"]
    return frame.loc[keys.sort_values(columns, kind="stable").index]


def lrn_text(lrn: bool) -> str:
    return "LRN on" if lrn else "LRN off"


def varied(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """The extra key columns with more than one value in ``frame``; FC heads only where one mode has both
    (train_step always has them: its mode says so)."""
    def varies(column: str) -> bool:
        if column == "heads":
            return bool((frame.groupby("mode")["heads"].nunique() > 1).any())
        return frame[column].nunique() > 1
    return [c for c in EXTRA_COLUMNS if c not in exclude and varies(c)]


def framework_text(framework: str, long: bool = False) -> str:
    """The framework's name; a reference (the seed's TF1 program) says that it is one."""
    reference = reference_text(framework)
    if reference is None:
        return framework
    return f"{framework} ({reference}, a reference)" if long else f"{framework} (reference)"


def variant_text(framework: str, variant: str) -> str:
    """``xla``; the default variant says what it is: ``graph (default)``."""
    entry = _entry(framework)
    if variant == "default" and entry and entry.default_label:
        return f"{entry.default_label} (default)"
    return variant


def layout_text(framework: str, layout: str) -> str:
    """``NHWC``; the native layout says which it is: ``NCHW (native)``."""
    if layout == "native":
        entry = _entry(framework)
        return f"{entry.layouts[0].upper()} (native)" if entry else "native"
    return layout.upper()


def setting_text(row, column: str) -> str:
    """One key column's value as a reader wants it: ``graph (default)``, ``NCHW (native)``, ``batch 64``."""
    value = row[column]
    words = {"variant": lambda: variant_text(row["framework"], value),
             "layout": lambda: layout_text(row["framework"], value),
             "heads": lambda: "FC heads" if value else "no heads", "batch_size": lambda: f"batch {int(value)}",
             "image_size": lambda: f"{int(value)}px", "lrn": lambda: lrn_text(value),
             "framework": lambda: framework_text(value), "workers": lambda: f"x{int(value)}",
             "nodes": lambda: f"on {int(value)} node{'s' * (int(value) > 1)}",
             "parallel": lambda: "one process" if value == "none" else value}
    return words.get(column, lambda: str(value))()


def extra_text(row, columns: list[str]) -> str:
    return " ".join(setting_text(row, c) for c in columns)


def case_label(row, columns: list[str], parts: tuple[str, ...] = ("framework", "mode", "lrn")) -> str:
    """``torch forward LRN on`` plus the varied extra columns, e.g. ``xla batch 64``."""
    return extra_text(row, [*parts, *columns])


def baseline_median(frame: pd.DataFrame, column: str) -> pd.Series:
    """Per row, the median_s of the same case with ``column`` at its baseline (BASELINES: fp32, the
    default variant, the native layout); NaN where ``frame`` has no such case."""
    others = [c for c in CASE_KEY if c != column]
    base = frame[frame[column] == BASELINES[column]].set_index(others)["median_s"]
    return pd.Series(base.reindex(pd.MultiIndex.from_frame(frame[others])).to_numpy(), index=frame.index)


def speedup_text(baseline_s: float, seconds: float) -> str:
    """``1.84x faster`` or ``1.20x slower`` than the baseline; empty without one."""
    if pd.isna(baseline_s):
        return ""
    ratio = baseline_s / seconds
    if abs(ratio - 1) < 0.005:
        return "same"
    return f"{ratio:.2f}x faster" if ratio > 1 else f"{1 / ratio:.2f}x slower"


def device_text(summary: pd.DataFrame) -> str:
    names = [n or d for n, d in zip(summary["device_name"], summary["device"], strict=True)]
    return ", ".join(dict.fromkeys(n for n in names if n)) or "unknown device"


def versions_text(summary: pd.DataFrame) -> str:
    pairs = summary[["framework", "framework_version"]].drop_duplicates()
    versions = dict(zip(pairs["framework"], pairs["framework_version"], strict=True))
    return ", ".join(f"{fw} {versions[fw]}".strip() for fw in framework_order(versions))
