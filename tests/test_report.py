"""report.md: its numbers are summary.csv's, its figures exist, the seed's figures are labelled as
the seed's."""

import re

import pandas as pd
import pytest

from harness.report import write_report
from harness.results import STEPS_CSV, SUMMARY_CSV, ResultsError
from tests.fixtures_runs import FAILED, snapshot, write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("report") / "run", failed=(FAILED,),
                    env={"busy": True, "interrupted": True, "load_average": 20.5, "cases": [{}] * 13})
    write_report(run)
    return run


@pytest.fixture(scope="module")
def report(run):
    return (run / "report.md").read_text()


def table_rows(report: str, heading: str) -> list[list[str]]:
    """The cells of the table under ``## heading``, header and rule left out."""
    section = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")][2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]


def test_results_table_numbers_equal_the_csv(run, report):
    summary = pd.read_csv(run / SUMMARY_CSV)
    ok = summary[summary["status"] == "ok"]
    rows = {(r[0], r[1], r[2]): r for r in table_rows(report, "Results")}
    assert len(rows) == len(ok) == 11
    for _, case in ok.iterrows():
        row = rows[case["framework"], case["mode"], "LRN on" if case["lrn"] else "LRN off"]
        mean, sd = (float(x) for x in row[3].split(" ± "))
        assert mean == round(case["mean_s"] * 1e3, 2) and sd == round(case["std_s"] * 1e3, 2)
        assert float(row[4]) == round(case["median_s"] * 1e3, 2)
        assert float(row[5]) == round(case["images_per_s"], 1)
        assert float(row[6]) == round(case["gflops_per_s"], 1)
        assert float(row[7]) == round(case["peak_mem_bytes"] / 2**20, 1)
        assert float(row[8]) == round(case["compile_s"], 3)


def test_fastest_framework_and_ratios_come_from_the_medians(run, report):
    summary = pd.read_csv(run / SUMMARY_CSV)
    ok = summary[summary["status"] == "ok"]
    for mode, lrn_text, fastest, median, others in table_rows(report, "Fastest framework"):
        group = ok[(ok["mode"] == mode) & (ok["lrn"] == (lrn_text == "LRN on"))].sort_values("median_s")
        best = group.iloc[0]
        assert (fastest, float(median)) == (best["framework"], round(best["median_s"] * 1e3, 2))
        ratios = [f"{r['framework']} {r['median_s'] / best['median_s']:.2f}x"
                  for _, r in group[1:].iterrows()]
        assert others.split(", ") == ratios


def test_failed_cases_are_listed_with_status_and_error(report):
    assert table_rows(report, "Cases without a result") == [
        ["jax forward_backward LRN on", "oom", r"RESOURCE_EXHAUSTED: out of memory \| allocating 1.2GiB"]]


def test_notes_say_interrupted_and_busy(report):
    assert "interrupted: 12 of 13 planned cases have a result" in report
    assert "The machine was busy (load average 20.5 on 16 cores)" in report


def test_figures_are_embedded_by_relative_path(run, report):
    paths = re.findall(r"!\[\w+\]\((figures/\w+\.png)\)", report)
    assert len(paths) == 5
    assert all((run / p).is_file() for p in paths)


def test_seed_figures_stand_beside_ours_labelled_as_the_seed(report):
    rows = table_rows(report, "The seed's published figures, beside ours")
    seed = {(r[0], r[1]): r[2] for r in rows if r[2]}
    assert seed == {("forward", "LRN on"): "0.026 s (26 ms)", ("forward", "LRN off"): "0.007 s (7 ms)",
                    ("forward_backward", "LRN on"): "0.078 s (78 ms)",
                    ("forward_backward", "LRN off"): "0.025 s (25 ms)"}
    assert "the seed's figure (its GPU, 2016, batch 32)" in report
    assert "not measurements of this run" in report
    results = report.split("## Results", 1)[1].split("## The seed's", 1)[0]
    assert "26 ms" not in results and "0.026" not in results


def test_varied_variants_get_a_setting_column(tmp_path):
    run = write_run(tmp_path / "run", frameworks=("jax",), lrns=(False,), variants=("default", "xla"))
    rows = table_rows(write_report(run).read_text(), "Results")
    assert [r[3] for r in rows] == ["default", "xla", "default", "xla"]


def _set_median(run, value):
    frame = pd.read_csv(run / SUMMARY_CSV, dtype=str, keep_default_na=False)
    frame.loc[0, "median_s"] = value
    frame.to_csv(run / SUMMARY_CSV, index=False)


@pytest.mark.parametrize("damage, message", [
    (lambda run: (run / SUMMARY_CSV).unlink(), "summary.csv does not exist"),
    (lambda run: (run / SUMMARY_CSV).write_text((run / SUMMARY_CSV).read_text().splitlines()[0] + "\n"),
     "summary.csv has no rows"),
    (lambda run: (run / STEPS_CSV).write_text("framework,seconds\n"),
     "steps.csv lacks the column(s) variant"),
    (lambda run: _set_median(run, "fast"), "column median_s has a value that is not a number: 'fast'"),
], ids=["no summary", "empty summary", "missing columns", "unparsable value"])
def test_bad_run_folder_is_one_clear_line_and_nothing_changes(tmp_path, damage, message):
    run = write_run(tmp_path / "run")
    damage(run)
    before = snapshot(run)
    with pytest.raises(ResultsError, match=re.escape(message)) as error:
        write_report(run)
    assert "\n" not in str(error.value)
    assert snapshot(run) == before


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        write_report(tmp_path / "nothing")
