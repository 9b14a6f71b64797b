"""What a run shows on screen: a progress bar per case, then a comparison table."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@contextmanager
def progress_bars():
    """A rich Progress with ETA; yields a function ``start(label, total) -> update(done)``."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        def start(label: str, total: int):
            task = progress.add_task(label, total=total)
            return lambda done: progress.update(task, completed=done)
        yield start


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def comparison_tables(rows: list[dict]) -> list[Table]:
    """Per model setting: rows framework, columns mode; mean +/- sd, median, ratio to the fastest."""
    ok = [r for r in rows if r["status"] == "ok"]
    groups: dict[tuple, list[dict]] = {}
    for r in ok:
        key = (r["lrn"], r["heads"], r["batch_size"], r["image_size"], r["variant"], r["precision"], r["layout"])
        groups.setdefault(key, []).append(r)
    tables = []
    for (lrn, heads, batch, size, variant, precision, layout), group in groups.items():
        modes = sorted({r["mode"] for r in group})
        fastest = {m: min(r["median_s"] for r in group if r["mode"] == m) for m in modes}
        title = (f"LRN {'on' if lrn else 'off'}{', FC heads' if heads else ''}, batch {batch}, "
                 f"{size}x{size}, {precision}, {variant} variant, {layout}: ms per batch")
        table = Table(title=title, title_justify="left")
        table.add_column("framework")
        for m in modes:
            table.add_column(f"{m}\nmean +/- sd", justify="right")
            table.add_column("median", justify="right")
            table.add_column("x fastest", justify="right")
        for fw in sorted({r["framework"] for r in group}):
            cells = [fw]
            for m in modes:
                r = next((r for r in group if r["framework"] == fw and r["mode"] == m), None)
                if r is None:
                    cells += ["-", "-", "-"]
                    continue
                flag = " [yellow](unstable)[/]" if r["unstable"] else ""
                cells += [f"{_ms(r['mean_s'])} +/- {_ms(r['std_s'])}{flag}", _ms(r["median_s"]),
                          f"{r['median_s'] / fastest[m]:.2f}"]
            table.add_row(*cells)
        tables.append(table)
    return tables


def problem_lines(rows: list[dict]) -> list[str]:
    """One line per case that did not run: its setting, status and the first line of its error."""
    lines = []
    for r in rows:
        if r["status"] != "ok":
            error = "".join(str(r["error"]).splitlines()[:1])[:160]
            lines.append(f"{r['framework']} {r['variant']} {r['mode']} lrn={'on' if r['lrn'] else 'off'} "
                         f"{r['precision']} {r['layout']} b{r['batch_size']} {r['image_size']}px: "
                         f"{r['status']} - {error}")
    return lines
