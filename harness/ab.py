"""``alexbench ab A B``: two variants timed in one process, in alternating blocks of steps.

Cases of a run each get a fresh process, and on a shared or virtual machine two processes of
the same program differ by a few percent (memory placement, clock, neighbours): as much as two
near-identical programs differ. Here both backends live in one worker; each round times a block
of steps of one, then of the other, and the order alternates (A B, B A, ...), so slow drift falls
on both alike. The first step of each block is untimed. The verdict is a two-sided Wilcoxon
signed-rank test on the rounds' log ratios of medians: it needs 8 or more rounds to reach p < 0.01.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

from .compare import SIGNIFICANT_P
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


@dataclass
class ABResult:
    """One mode's rounds: ``a`` and ``b`` hold each round's timed steps."""

    mode: str
    a: list[list[float]]
    b: list[list[float]]

    @cached_property
    def ratios(self) -> np.ndarray:
        """Per round, A's median over B's."""
        return np.array([np.median(x) / np.median(y) for x, y in zip(self.a, self.b, strict=True)])

    @property
    def median_a(self) -> float:
        return float(np.median(np.concatenate(self.a)))

    @property
    def median_b(self) -> float:
        return float(np.median(np.concatenate(self.b)))

    @cached_property
    def p_value(self) -> float:
        logs = np.log(self.ratios)
        if np.count_nonzero(logs) == 0:
            return 1.0
        return float(wilcoxon(logs).pvalue)

    @property
    def verdict(self) -> str:
        """``slower``, ``faster`` (A against B, at p < 0.01) or ``same``."""
        if self.p_value >= SIGNIFICANT_P:
            return "same"
        return "slower" if np.median(self.ratios) > 1 else "faster"


def steps_csv(results: list[ABResult], name_a: str, name_b: str) -> str:
    """Every timed step as CSV: mode, side (A or B), variant (framework and variant), round, step, seconds."""
    lines = ["mode,side,variant,round,step,seconds"]
    for r in results:
        for side, name, rounds in (("A", name_a, r.a), ("B", name_b, r.b)):
            lines += [f"{r.mode},{side},{name},{i},{j},{t!r}"
                      for i, times in enumerate(rounds) for j, t in enumerate(times)]
    return "\n".join(lines) + "\n"


def format_ab(title: str, name_a: str, name_b: str, results: list[ABResult]) -> str:
    """The comparison table, a line per mode, and what each verdict means."""
    lines = [title, f"{'mode':<17} {'A ms':>8} {'B ms':>8} {'A/B':>6} {'A faster':>9} {'p':>8}  verdict"]
    words = {"slower": f"{name_a} is slower", "faster": f"{name_a} is faster",
             "same": "no difference at p < 0.01"}
    for r in results:
        faster = f"{int(np.sum(r.ratios < 1))}/{len(r.ratios)}"
        lines.append(f"{r.mode:<17} {r.median_a * 1e3:8.1f} {r.median_b * 1e3:8.1f} {r.median_a / r.median_b:6.3f} "
                     f"{faster:>9} {r.p_value:8.2g}  {words[r.verdict]}")
    lines.append(f"A = {name_a}, B = {name_b}; ms: medians of every timed step; A faster: rounds where A's median "
                 "was lower; p: Wilcoxon signed-rank on the rounds' ratios")
    return "\n".join(lines)
