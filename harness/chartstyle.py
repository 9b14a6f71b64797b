"""What every chart and table shares: framework colors, case labels, orderings, titles, saving."""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import pandas as pd  # noqa: E402

FRAMEWORK_COLORS = {"tensorflow": "#ff7f0e", "torch": "#d62728", "jax": "#1f77b4"}
# Any other framework (the seed's tf1 program, a plugin) gets one of these, fixed by its name.
OTHER_COLORS = ("#9467bd", "#8c564b", "#2ca02c", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MODE_ORDER = ("forward", "forward_backward", "train_step")
# Key columns named in a case's label only when they vary within the frame being drawn.
EXTRA_COLUMNS = ("variant", "precision", "layout", "heads", "batch_size", "image_size")
# The seed's published seconds per batch (batch 32, conv1..pool5, on its GPU in 2016), by (mode, LRN).
SEED_GPU_SECONDS = {("forward", True): 0.026, ("forward", False): 0.007,
                    ("forward_backward", True): 0.078, ("forward_backward", False): 0.025}


def color(framework: str) -> str:
    return FRAMEWORK_COLORS.get(framework) or OTHER_COLORS[zlib.crc32(framework.encode()) % len(OTHER_COLORS)]


def _ordered(values, first: tuple[str, ...]) -> list[str]:
    present = set(values)
    return [v for v in first if v in present] + sorted(present - set(first))


def framework_order(frameworks) -> list[str]:
    """tensorflow, torch, jax, then any other framework alphabetically."""
    return _ordered(frameworks, tuple(FRAMEWORK_COLORS))


def mode_order(modes) -> list[str]:
    return _ordered(modes, MODE_ORDER)


def sort_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in reading order: mode, LRN on before off, framework, the default variant first, then the
    other key columns."""
    modes, frameworks = mode_order(frame["mode"]), framework_order(frame["framework"])
    keys = frame.assign(_mode=frame["mode"].map(modes.index), _lrn=~frame["lrn"],
                        _fw=frame["framework"].map(frameworks.index), _variant=frame["variant"] != "default")
    order = keys.sort_values(["_mode", "_lrn", "_fw", "_variant", *EXTRA_COLUMNS]).index
    return frame.loc[order]


def lrn_text(lrn: bool) -> str:
    return "LRN on" if lrn else "LRN off"


def varied(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """The extra key columns with more than one value in ``frame``."""
    return [c for c in EXTRA_COLUMNS if c not in exclude and frame[c].nunique() > 1]


def extra_text(row, columns: list[str]) -> str:
    words = {"heads": lambda v: "FC heads" if v else "no heads", "batch_size": lambda v: f"batch {int(v)}",
             "image_size": lambda v: f"{int(v)}px"}
    return " ".join(words.get(c, str)(row[c]) for c in columns)


def case_label(row, columns: list[str], parts: tuple[str, ...] = ("framework", "mode", "lrn")) -> str:
    """``torch forward LRN on`` plus the varied extra columns, e.g. ``xla batch 64``."""
    words = [lrn_text(row["lrn"]) if p == "lrn" else str(row[p]) for p in parts]
    return " ".join(words + ([extra_text(row, columns)] if columns else []))


def device_text(summary: pd.DataFrame) -> str:
    names = [n or d for n, d in zip(summary["device_name"], summary["device"], strict=True)]
    return ", ".join(dict.fromkeys(n for n in names if n)) or "unknown device"


def versions_text(summary: pd.DataFrame) -> str:
    pairs = summary[["framework", "framework_version"]].drop_duplicates()
    versions = dict(zip(pairs["framework"], pairs["framework_version"], strict=True))
    return ", ".join(f"{fw} {versions[fw]}".strip() for fw in framework_order(versions))


def title(fig, what: str, summary: pd.DataFrame) -> None:
    fig.suptitle(f"{what}\n{device_text(summary)} | {versions_text(summary)}", fontsize=11)


def subplots(rows: int, cols: int, size: tuple[float, float], **kw):
    """A figure with a 2-D array of axes and constrained layout (titles and legends never overlap)."""
    return plt.subplots(rows, cols, figsize=size, squeeze=False, layout="constrained", **kw)


def save(fig, folder: Path, name: str, svg: bool = True) -> Path:
    """Write ``name``.png (and .svg) into ``folder``; close the figure; return the PNG's path."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    if svg:
        fig.savefig(folder / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return png
