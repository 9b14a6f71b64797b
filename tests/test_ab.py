"""``alexbench ab``: rounds alternate, the verdict follows a Wilcoxon test, both sides share one process."""

import numpy as np
import pandas as pd
import pytest

from harness.analysis.ab import ABResult
from harness.measure.rounds import time_rounds
from tests.clitools import alexbench


def _rows(stdout: str, mode: str) -> list[list[str]]:
    """The cells of the table rows of ``mode`` in ``alexbench ab``'s output."""
    rows = [[c.strip() for c in ln.strip("│ ").split("│")] for ln in stdout.splitlines() if "│" in ln]
    return [r for r in rows if r[0] == mode]


def _rounds(rng, median, n=10, steps=10):
    return [list(median * (1 + rng.normal(0, 0.01, steps))) for _ in range(n)]


def test_a_consistently_slower_a_is_slower():
    rng = np.random.default_rng(0)
    result = ABResult("forward", _rounds(rng, 0.105), _rounds(rng, 0.100))
    assert result.verdict == "slower" and result.p_value < 0.01
    assert np.all(result.ratios > 1)


def test_a_consistently_faster_a_is_faster():
    rng = np.random.default_rng(1)
    assert ABResult("forward", _rounds(rng, 0.097), _rounds(rng, 0.100)).verdict == "faster"


def test_noise_alone_is_no_difference():
    rng = np.random.default_rng(2)
    result = ABResult("forward", _rounds(rng, 0.100), _rounds(rng, 0.100))
    assert result.verdict == "same" and result.p_value >= 0.01


def test_identical_rounds_are_no_difference():
    same = [[0.1, 0.1]] * 4
    assert ABResult("forward", same, same).p_value == 1.0


def test_too_few_rounds_cannot_be_significant():
    rng = np.random.default_rng(3)
    assert ABResult("forward", _rounds(rng, 0.2, n=5), _rounds(rng, 0.1, n=5)).verdict == "same"


def test_rounds_alternate_which_side_goes_first():
    calls = []

    def side(name):
        return (lambda: calls.append(name)), (lambda _: None)

    result = time_rounds(side("a"), side("b"), burn_in=2, rounds=4, steps=3)
    assert calls[:4] == ["a", "a", "b", "b"]  # each burns in first
    blocks = ["".join(calls[i: i + 4]) for i in range(4, len(calls), 4)]  # 1 untimed + 3 timed steps each
    assert blocks == ["aaaa", "bbbb", "bbbb", "aaaa", "aaaa", "bbbb", "bbbb", "aaaa"]
    assert [len(r) for r in result["a"]] == [3] * 4 and [len(r) for r in result["b"]] == [3] * 4


def test_the_slower_side_is_found_in_one_process(tmp_path):
    """fake-slow sleeps 20 times longer per step than fake-sleep: with 8 rounds the test can tell."""
    done = alexbench("ab", "fake-slow", "fake-sleep", "--modes", "forward", "--rounds", "8", "--steps", "2",
                     "--burn-in", "0", "--batch-size", "1", "--image-size", "66", "--fail-if-slower",
                     "--csv", str(tmp_path / "ab.csv"))
    assert done.returncode == 1 and done.stderr == "", done.stderr  # slower, and nothing failed
    (row,) = _rows(done.stdout, "forward")
    assert row[-1] == "fake-slow default is slower" and row[4] == "0/8", row
    steps = pd.read_csv(tmp_path / "ab.csv")
    assert len(steps) == 2 * 8 * 2 and set(steps["round"]) == set(range(8))
    a, b = (steps[steps.side == side] for side in "AB")
    assert set(a.variant) == {"fake-slow default"} and a.seconds.min() >= 0.2 > b.seconds.max()


@pytest.mark.slow
def test_a_mode_one_side_cannot_run_is_reported_after_the_table():
    done = alexbench("ab", "tensorflow", "tf1-seed", "--modes", "forward,train_step", "--rounds", "2", "--steps", "1",
                     "--burn-in", "0", "--batch-size", "1", "--image-size", "66")
    assert done.returncode == 1
    assert _rows(done.stdout, "forward"), done.stdout + done.stderr
    assert done.stderr.strip().startswith("train_step: unsupported: ")
