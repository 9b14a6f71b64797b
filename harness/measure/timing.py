"""The seed's loop: burn-in, then timed steps, every step's time kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Measurement:
    """Raw step times of one case. ``burn_in[0]`` is the first (compile) step."""

    burn_in: list[float] = field(default_factory=list)
    timed: list[float] = field(default_factory=list)

    @property
    def compile_s(self) -> float:
        return self.burn_in[0]


def time_steps(
    step: Callable[[], Any],
    block: Callable[[Any], None],
    burn_in: int,
    steps: int,
    on_step: Callable[[int], None] | None = None,
) -> Measurement:
    """Run ``max(burn_in, 1)`` untimed-for-statistics steps, then ``steps`` timed ones.

    Each step is timed with ``perf_counter`` around the call and ``block`` on its result,
    so device work is included. The first step (trace, compile, autotune) always runs
    and is kept as ``compile_s``, even when ``burn_in`` is 0. ``on_step`` gets the number
    of steps done, outside the timed region.
    """
    m = Measurement()
    total = 0
    for phase, count in ((m.burn_in, max(burn_in, 1)), (m.timed, steps)):
        for _ in range(count):
            t0 = time.perf_counter()
            block(step())
            phase.append(time.perf_counter() - t0)
            total += 1
            if on_step is not None:
                on_step(total)
    return m


def harness_overhead_s(steps: int = 20000) -> float:
    """Median time the loop adds per step, measured on a step and block that do nothing."""
    m = time_steps(lambda: None, lambda _: None, burn_in=0, steps=steps)
    return float(np.median(m.timed))
