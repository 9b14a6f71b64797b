"""``alexbench ab``'s timing: two backends in one process, in alternating blocks of steps.

Cases of a run each get a fresh process, and on a shared or virtual machine two processes of the same
program differ by a few percent. Here both backends live in one worker; each round times a block of steps
of one, then of the other, and the order alternates (A B, B A, ...), so slow drift falls on both alike.
The first step of each block is untimed. harness.analysis.ab gives the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .timing import time_steps

Step = tuple[Callable[[], Any], Callable[[Any], None]]  # a backend's step and its block


def time_rounds(a: Step, b: Step, burn_in: int, rounds: int, steps: int) -> dict[str, list]:
    """Burn in both (compile steps included), then ``rounds`` blocks of ``steps`` timed steps each, A first
    in even rounds and B first in odd ones."""
    pair = {"a": a, "b": b}
    for side in pair.values():
        time_steps(*side, burn_in, 0)
    result = {k: [] for k in pair}
    for r in range(rounds):
        for k in ("ab" if r % 2 == 0 else "ba"):
            result[k].append(time_steps(*pair[k], 0, steps).timed)
    return result
