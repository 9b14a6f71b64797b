"""report.md's sections: a heading, an intro and a table; the formats of its numbers and settings."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from harness.results.naming import lrn_text, setting_text

from .tables import Table, to_markdown

BLANK = "–"
# A table's header for each key column that gets its own column when it varies.
HEADERS = {"variant": "variant", "precision": "precision", "layout": "layout", "heads": "FC heads",
           "batch_size": "batch", "image_size": "image size", "parallel": "parallel", "workers": "workers",
           "nodes": "nodes"}
Column = tuple[str, Callable[[pd.Series], str]]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def number(value: float, fmt: str) -> str:
    return BLANK if pd.isna(value) else format(value, fmt)


def percent(share: float) -> str:
    """A share (0.85) as ``85%``."""
    return BLANK if pd.isna(share) else f"{100 * share:.0f}%"


def section(heading: str, intro: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return [f"## {heading}", ""] + ([intro, ""] if intro else []) + to_markdown(Table(header, rows))


def case_columns(extras: list[str]) -> list[Column]:
    """mode, LRN and a column per varied setting (variant, precision, layout, batch...)."""
    def setting(column: str) -> Column:
        if column in ("batch_size", "workers", "nodes"):
            return HEADERS[column], lambda r: str(int(r[column]))
        return HEADERS[column], lambda r: setting_text(r, column)
    return [("mode", lambda r: r["mode"]), ("LRN", lambda r: lrn_text(r["lrn"]))] + [setting(c) for c in extras]
