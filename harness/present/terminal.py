"""The terminal: one console, a progress bar per case, and what a command prints (tables and lines)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .tables import Table, to_rich

WIDTH = 120  # when the output is not a terminal (a log, a pipe)
console = Console(highlight=False, width=None if sys.stdout.isatty() else WIDTH)
errors = Console(highlight=False, stderr=True, width=None if sys.stderr.isatty() else WIDTH)

Shown = Table | str  # what a command prints: tables, and lines (rich markup allowed)


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


def show(items: Iterable[Shown], to: Console = console) -> None:
    """Print tables and lines, in order."""
    for item in items:
        to.print(to_rich(item) if isinstance(item, Table) else item)


def render(items: Iterable[Shown], width: int = 160) -> str:
    """What ``show`` prints, as plain text."""
    text = Console(width=width, record=True, file=None, highlight=False, force_terminal=False)
    with text.capture() as captured:
        show(items, text)
    return captured.get()
