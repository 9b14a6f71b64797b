"""Statistics over raw step times, and a case's rate against the machine's measured peak."""

from __future__ import annotations

import numpy as np

UNSTABLE_IQR_RATIO = 0.1
# The machine's rate is the best over frameworks and products of each one's median step, which a
# case's median is compared with; a single lucky step does not set it.
RATE_KEYS = ("matmul_gflops_median", "conv_gflops_median")


def statistics(times: list[float] | np.ndarray, batch_size: int, flops: int) -> dict[str, float | bool]:
    """mean and population sd (the seed's line), median, IQR, min, max, p95,
    images/s and GFLOP/s at the median, and the unstable flag (IQR/median > 0.1)."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timed steps")
    q25, median, q75, p95 = np.percentile(t, [25, 50, 75, 95])
    iqr = q75 - q25
    return {
        "mean_s": float(t.mean()),
        "std_s": float(t.std()),
        "median_s": float(median),
        "iqr_s": float(iqr),
        "min_s": float(t.min()),
        "max_s": float(t.max()),
        "p95_s": float(p95),
        "images_per_s": batch_size / median,
        "gflops": flops / 1e9,
        "gflops_per_s": flops / 1e9 / median,
        "unstable": bool(iqr / median > UNSTABLE_IQR_RATIO),
    }


def peak_rate(results: list[dict]) -> float:
    """The machine's rate: the best median GFLOP/s over every result and both products."""
    rates = [r[k] for r in results for k in RATE_KEYS if r.get(k)]
    if not rates:
        raise ValueError("no peak measurement to take the rate from")
    return max(rates)


def pct_of_peak(gflops_per_s: float, rate: float) -> float:
    """``gflops_per_s`` as a percentage of the machine's ``rate``."""
    return 100.0 * gflops_per_s / rate
