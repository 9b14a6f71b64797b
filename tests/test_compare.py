"""compare: a real slowdown is significant, a run against itself is not, --fail-above gates CI,
bad input is one clear error."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from harness.analysis.compare import CompareError, compare_runs
from harness.core.errors import UserError
from harness.present.charts.comparechart import ratio_chart
from harness.present.terminal import render
from harness.present.views import compare_view
from harness.results.schema import STEPS_CSV, SUMMARY_CSV
from tests.fixtures_runs import FAILED, snapshot, write_run


def _text(result) -> str:
    """What ``alexbench compare`` prints for ``result``."""
    return render(compare_view(result, "chart.png"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    base = write_run(root / "base", seed=1)
    slower = write_run(root / "slower", slowdown=1.2, seed=2)
    return base, slower


def test_a_20_percent_slowdown_is_significant(runs):
    result = compare_runs(*runs)
    assert len(result.table) == 12
    assert result.table["ratio"].between(1.15, 1.25).all()
    assert result.table["significant"].all()
    assert (result.table["p_value"] < 0.01).all()
    assert result.exit_code == 0
    assert "slower" in _text(result)


def test_a_run_against_itself_is_not_significant(runs):
    result = compare_runs(runs[0], runs[0], fail_above=1.0)
    assert (result.table["ratio"] == 1.0).all()
    assert not result.table["significant"].any()
    assert result.exit_code == 0


def test_same_machine_twice_is_not_significant(tmp_path):
    result = compare_runs(write_run(tmp_path / "a", seed=3), write_run(tmp_path / "b", seed=4))
    assert result.table["ratio"].between(0.97, 1.03).all()
    assert result.table["significant"].sum() <= 1  # 12 tests at p < 0.01


@pytest.mark.parametrize("fail_above, code", [(1.10, 1), (1.30, 0), (None, 0)])
def test_fail_above_exits_1_only_for_a_significant_slowdown_over_it(runs, fail_above, code):
    result = compare_runs(*runs, fail_above=fail_above)
    assert result.exit_code == code
    assert len(result.failing) == (12 if code else 0)
    if fail_above is not None:
        expected = f"--fail-above {fail_above:g}: {len(result.failing)} significant slowdown(s)"
        assert expected in _text(result)


def test_a_speedup_never_fails(runs):
    result = compare_runs(runs[1], runs[0], fail_above=1.01)
    assert result.table["ratio"].lt(1).all() and result.table["significant"].all()
    assert result.exit_code == 0


def test_cases_in_one_run_only_are_listed(tmp_path):
    a = write_run(tmp_path / "a", failed=(FAILED,))
    b = write_run(tmp_path / "b", frameworks=("tensorflow", "torch", "jax", "tf1-seed"), modes=("forward",))
    result = compare_runs(a, b)
    assert len(result.table) == 6
    assert result.only_a == ["tensorflow forward_backward LRN on", "torch forward_backward LRN on",
                             "tensorflow forward_backward LRN off", "torch forward_backward LRN off",
                             "jax forward_backward LRN off"]
    assert result.only_b == ["tf1-seed (reference) forward LRN on", "tf1-seed (reference) forward LRN off"]
    text = _text(result)
    assert "only in B: tf1-seed (reference) forward LRN on" in text
    assert "only in A: torch forward_backward LRN off" in text


def test_cases_match_on_layout_and_the_others_are_listed_with_theirs(tmp_path):
    a = write_run(tmp_path / "a", modes=("forward",), lrns=(True,))
    b = write_run(tmp_path / "b", modes=("forward",), lrns=(True,), layouts={"torch": ("native", "nhwc")})
    result = compare_runs(a, b)
    assert list(result.table["case"]) == ["tensorflow forward LRN on NHWC (native)",
                                          "torch forward LRN on NCHW (native)", "jax forward LRN on NHWC (native)"]
    assert result.only_a == []
    assert result.only_b == ["torch forward LRN on NHWC"]
    assert "only in B: torch forward LRN on NHWC" in _text(result)


def test_a_run_from_before_layouts_matches_the_native_layout(tmp_path):
    old = write_run(tmp_path / "old", modes=("forward",))
    for name in (SUMMARY_CSV, STEPS_CSV):
        frame = pd.read_csv(old / name, dtype=str, keep_default_na=False)
        frame.drop(columns=["layout"]).to_csv(old / name, index=False)
    new = write_run(tmp_path / "new", modes=("forward",), layouts={"torch": ("native", "nhwc")}, seed=1)
    result = compare_runs(old, new)
    assert len(result.table) == 6
    assert result.table["p_value"].notna().all()  # the steps matched too
    assert result.only_b == ["torch forward LRN on NHWC", "torch forward LRN off NHWC"]


def test_precision_and_variant_are_part_of_the_match(tmp_path):
    a = write_run(tmp_path / "a", frameworks=("torch",), modes=("forward",), lrns=(True,), precisions=("fp32", "bf16"))
    b = write_run(tmp_path / "b", frameworks=("torch",), modes=("forward",), lrns=(True,), precisions=("bf16",),
                  variants=("default", "compile"), seed=1)
    result = compare_runs(a, b)
    assert list(result.table["case"]) == ["torch forward LRN on eager (default) bf16"]
    assert result.only_a == ["torch forward LRN on eager (default) fp32"]
    assert result.only_b == ["torch forward LRN on compile bf16"]


def test_a_case_that_failed_in_one_run_says_so(tmp_path):
    a = write_run(tmp_path / "a", failed=(FAILED,))
    b = write_run(tmp_path / "b")
    assert compare_runs(a, b).only_b == ["jax forward_backward LRN on (in A: oom)"]


def test_runs_from_different_machines_are_compared_with_a_warning(tmp_path):
    a = write_run(tmp_path / "a")
    versions = {"tensorflow": "2.16.1", "torch": "2.4.0", "jax": "0.4.30"}
    b = write_run(tmp_path / "b", env={"cpu_model": "Other CPU", "cpu_count": 8, "frameworks": versions})
    (warning,) = compare_runs(a, b).warnings
    assert "cpu_model Synthetic CPU 9000 vs Other CPU" in warning
    assert "cpu_count 16 vs 8" in warning
    assert "torch 2.3.0 vs 2.4.0" in warning
    assert "tensorflow" not in warning


def test_the_ratio_chart_is_written_into_run_b(runs):
    chart = ratio_chart(compare_runs(*runs, fail_above=1.1))
    assert chart == runs[1] / "figures" / "compare_base.png"
    assert chart.read_bytes()[:4] == b"\x89PNG" and chart.stat().st_size > 20_000
    height, width, _ = plt.imread(chart).shape
    assert height > 300 and width > 400


def test_no_case_in_common_is_one_clear_error(tmp_path):
    a = write_run(tmp_path / "a", frameworks=("torch",))
    b = write_run(tmp_path / "b", frameworks=("jax",))
    before = snapshot(b)
    with pytest.raises(CompareError, match="have no successful case in common") as error:
        compare_runs(a, b)
    assert "\n" not in str(error.value)
    assert snapshot(b) == before


def _drop_column(run):
    frame = pd.read_csv(run / SUMMARY_CSV, dtype=str, keep_default_na=False)
    frame.drop(columns=["median_s"]).to_csv(run / SUMMARY_CSV, index=False)
    return run


def _bad_value(run):
    frame = pd.read_csv(run / SUMMARY_CSV, dtype=str, keep_default_na=False)
    frame.loc[0, "batch_size"] = "thirty-two"
    frame.to_csv(run / SUMMARY_CSV, index=False)
    return run


@pytest.mark.parametrize("damage, message", [
    (lambda run: run.parent / "missing", "run folder {run} does not exist"),
    (_drop_column, "{run}/summary.csv lacks the column(s) median_s"),
    (_bad_value, "column batch_size has a value that is not a number: 'thirty-two'"),
], ids=["missing folder", "missing column", "unparsable value"])
@pytest.mark.parametrize("side", ["a", "b"])
def test_bad_input_is_a_user_error_and_changes_nothing(tmp_path, damage, message, side):
    runs = {"a": write_run(tmp_path / "a"), "b": write_run(tmp_path / "b", seed=1)}
    runs[side] = damage(runs[side])
    before = snapshot(tmp_path)
    with pytest.raises(UserError) as error:
        compare_runs(runs["a"], runs["b"], fail_above=1.1)
    assert message.format(run=runs[side]) in str(error.value)
    assert "\n" not in str(error.value)
    assert snapshot(tmp_path) == before
