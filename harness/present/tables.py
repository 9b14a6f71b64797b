"""A table, and the two ways to draw one: rich for the terminal, markdown for report.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich import box
from rich.table import Table as RichTable


@dataclass
class Table:
    """Column headers, rows of text cells and an optional title. ``align`` has an ``l`` or ``r`` per column
    for the terminal (default: the first column left, the figures right); markdown leaves it to its viewer."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    title: str = ""
    align: str = ""

    def justify(self, column: int) -> str:
        code = self.align[column] if column < len(self.align) else ("l" if column == 0 else "r")
        return "left" if code == "l" else "right"


def to_rich(table: Table) -> RichTable:
    """The table for the terminal; cells may hold rich markup (``[yellow]unstable[/]``)."""
    drawn = RichTable(title=table.title or None, title_justify="left", box=box.HEAVY_HEAD)
    for i, name in enumerate(table.header):
        drawn.add_column(name, justify=table.justify(i))
    for row in table.rows:
        drawn.add_row(*row)
    return drawn


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table) -> list[str]:
    """The table's lines in markdown (a blank line after it); the title, if any, as a bold line before it."""
    lines = [f"**{table.title}**", ""] if table.title else []
    lines += ["| " + " | ".join(_cell(c) for c in table.header) + " |", "|" + "---|" * len(table.header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows] + [""]
