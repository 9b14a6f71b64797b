"""When a difference in step times is real: the significance level and the tests the analyses share."""

from __future__ import annotations

import numpy as np
from scipy.stats import mannwhitneyu, wilcoxon

SIGNIFICANT_P = 0.01


def mann_whitney_p(a: np.ndarray | None, b: np.ndarray | None, alternative: str = "two-sided") -> float:
    """Mann-Whitney U p-value of steps ``a`` against steps ``b`` (``greater``: ``a`` slower); NaN without steps."""
    if a is None or b is None or len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(mannwhitneyu(a, b, alternative=alternative).pvalue)


def wilcoxon_p(ratios: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired ratios against 1 (on their logs); 1 when all are 1."""
    logs = np.log(ratios)
    if np.count_nonzero(logs) == 0:
        return 1.0
    return float(wilcoxon(logs).pvalue)
