"""``alexbench ab``'s verdict: A against B from rounds timed in one process (harness.measure.rounds).

A two-sided Wilcoxon signed-rank test on the rounds' log ratios of medians: it needs 8 or more rounds to
reach p < 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .significance import SIGNIFICANT_P, wilcoxon_p


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
        return wilcoxon_p(self.ratios)

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
