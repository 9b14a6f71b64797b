"""report.md: its numbers are summary.csv's, its figures exist, the seed's figures are labelled as
the seed's."""

import re

import pandas as pd
import pytest

from harness.present.report import write_report
from harness.results.schema import STEPS_CSV, SUMMARY_CSV
from harness.results.tables import ResultsError
from tests.fixtures_runs import ALL_VARIANTS, FAILED, snapshot, write_run

UNSUPPORTED = {"framework": "jax", "precision": "fp16", "status": "unsupported",
               "error": "fp16 is not supported by this backend on cpu"}
PEAK = {"peak_gflops": 5000.0, "peak": {
    "tensorflow": {"status": "ok", "matmul_gflops_median": 4800.0, "matmul_gflops_best": 5100.0,
                   "conv_gflops_median": 5000.0, "conv_gflops_best": 5200.0},
    "jax": {"status": "failed", "error": "XlaRuntimeError: boom"}}}
HARNESS = {"harness": {"overhead_per_step_s": 4.25e-6, "wall_s": 800.0, "outside_timed_steps_s": 120.0}}
TUNED_ALLOCATOR = "glibc mmap_threshold=33554432 trim_threshold=1073741824"
BACKENDS = {"backends": {"torch": {"default": {"allocator": "system default"},
                                   "tuned": {"allocator": TUNED_ALLOCATOR}},
                         "tensorflow": {"default": {"threads": "intra=2"}}}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("report") / "run", failed=(FAILED,),
                    env={"busy": True, "interrupted": True, "load_average": 20.5, "cases": [{}] * 13})
    write_report(run)
    return run


@pytest.fixture(scope="module")
def report(run):
    return (run / "report.md").read_text()


def table_rows(report: str, heading: str, header: bool = False) -> list[list[str]]:
    """The cells of the table under ``## heading``, the rule left out, and the header unless asked for."""
    section = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    lines = lines[:1] + lines[2:] if header else lines[2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]


def table_dicts(report: str, heading: str) -> list[dict[str, str]]:
    """The rows of the table under ``## heading`` as {header: cell}."""
    header, *rows = table_rows(report, heading, header=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


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
        assert float(row[8]) == round(case["step_mem_bytes"] / 2**20, 1)
        assert float(row[9]) == round(case["compile_s"], 3)


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


def test_varied_variants_get_a_variant_column(tmp_path):
    run = write_run(tmp_path / "run", frameworks=("jax",), lrns=(False,), variants=("default", "xla"))
    rows = table_dicts(write_report(run).read_text(), "Results")
    assert [r["variant"] for r in rows] == ["jit (default)", "xla", "jit (default)", "xla"]
    assert "precision" not in rows[0] and "layout" not in rows[0] and "% of peak" not in rows[0]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """Every dimension varies: precisions (jax's fp16 unsupported), TensorFlow's and PyTorch's variants,
    PyTorch's channels_last, the seed's TF1 program; with a peak measurement and the harness's cost."""
    run = write_run(tmp_path_factory.mktemp("matrix") / "run", frameworks=("tensorflow", "torch", "jax", "tf1-seed"),
                    modes=("forward", "train_step"), lrns=(True,), precisions=("fp32", "bf16", "fp16"),
                    variants=ALL_VARIANTS, layouts={"torch": ("native", "nhwc")}, failed=(UNSUPPORTED,),
                    env=PEAK | HARNESS | BACKENDS, steps=12, burn_in=2)
    write_report(run)
    summary = pd.read_csv(run / SUMMARY_CSV, keep_default_na=False, na_values=[""])
    return summary, (run / "report.md").read_text()


def _ok(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["status"] == "ok"]


def test_results_table_gets_a_column_per_varied_setting_and_its_numbers_equal_the_csv(matrix):
    summary, report = matrix
    ok = _ok(summary)
    rows = table_dicts(report, "Results")
    assert len(rows) == len(ok) == 2 * (3 * 3 + 2 * 3 + 2 * 3 + 2 + 3)
    assert list(rows[0])[:6] == ["framework", "mode", "LRN", "variant", "precision", "layout"]
    words = {"default": {"tensorflow": "graph (default)", "torch": "eager (default)", "jax": "jit (default)"}}
    layouts = {("torch", "native"): "NCHW (native)", ("torch", "nhwc"): "NHWC"}
    by_key = {(r["framework"], r["mode"], r["variant"], r["precision"], r["layout"]): r for r in rows}
    for _, case in ok.iterrows():
        fw = case["framework"]
        key = ("tf1-seed (reference)" if fw == "tf1-seed" else fw, case["mode"],
               words.get(case["variant"], {}).get(fw, case["variant"]), case["precision"],
               layouts.get((fw, case["layout"]), "NHWC (native)"))
        row = by_key[key]
        assert float(row["median (ms)"]) == round(case["median_s"] * 1e3, 2)
        assert float(row["GFLOP/s"]) == round(case["gflops_per_s"], 1)
        assert float(row["% of peak"]) == round(case["pct_of_peak"], 1)
        assert row["% of peak"] == f"{case['gflops_per_s'] / PEAK['peak_gflops'] * 100:.1f}"


def test_the_seed_program_is_labelled_a_reference(matrix):
    _, report = matrix
    assert "`tf1-seed` is the seed's TF1 program: a reference run beside the three frameworks" in report
    frameworks = {r["framework"] for r in table_dicts(report, "Results")}
    assert frameworks == {"tensorflow", "torch", "jax", "tf1-seed (reference)"}
    rows = table_dicts(report, "The seed's TF1 program, a reference")
    assert len(rows) == 2 * 3


def test_fastest_ranks_frameworks_out_of_the_box_and_names_the_fastest_of_any_variant(matrix):
    summary, report = matrix
    ok = _ok(summary)
    ranked = ok[ok["framework"] != "tf1-seed"]
    rows = table_dicts(report, "Fastest framework")
    assert len(rows) == 2 * 3  # mode x precision
    for row in rows:
        group = ranked[(ranked["mode"] == row["mode"]) & (ranked["precision"] == row["precision"])]
        defaults = group[(group["variant"] == "default") & (group["layout"] == "native")].sort_values("median_s")
        best = defaults.iloc[0]
        assert (row["fastest"], float(row["median (ms)"])) == (best["framework"], round(best["median_s"] * 1e3, 2))
        assert row["others (x fastest)"].split(", ") == [
            f"{r['framework']} {r['median_s'] / best['median_s']:.2f}x" for _, r in defaults[1:].iterrows()]
        top = group.loc[group["median_s"].idxmin()]
        assert row["fastest of any variant and layout"].endswith(f", {top['median_s'] * 1e3:.2f} ms")
        assert row["fastest of any variant and layout"].startswith(top["framework"])
    assert "tf1-seed" not in "".join(str(r) for r in rows)


def test_best_variant_per_framework_and_its_speed_up(matrix):
    summary, report = matrix
    ok = _ok(summary)
    rows = table_dicts(report, "Best variant and layout per framework")
    assert {r["framework"] for r in rows} == {"tensorflow", "torch"}
    assert len(rows) == 2 * 3 * 2
    for row in rows:
        cases = ok[(ok["framework"] == row["framework"]) & (ok["mode"] == row["mode"])
                   & (ok["precision"] == row["precision"])]
        best = cases.loc[cases["median_s"].idxmin()]
        default = cases[(cases["variant"] == "default") & (cases["layout"] == "native")]["median_s"].iloc[0]
        assert float(row["median (ms)"]) == round(best["median_s"] * 1e3, 2)
        ratio = default / best["median_s"]
        assert row["against out of the box"] in (f"{ratio:.2f}x faster", "same")
        assert len(row["every variant and layout (median ms)"].split(", ")) == len(cases)


def test_unsupported_cases_are_listed_with_their_reasons(matrix):
    _, report = matrix
    rows = table_rows(report, "Cases without a result")
    assert rows == [[f"jax {mode} LRN on jit (default) fp16 NHWC (native)", "unsupported", UNSUPPORTED["error"]]
                    for mode in ("forward", "train_step")]
    assert "`unsupported`: the framework or device cannot run this combination" in report


def test_environment_gives_the_peak_and_the_harness_cost(matrix):
    _, report = matrix
    assert "- measured fp32 peak: 5,000.0 GFLOP/s" in report
    assert "  - tensorflow: matmul 4,800.0 (best step 5,100.0); conv 5,000.0 (best step 5,200.0) GFLOP/s" in report
    assert "  - jax: failed XlaRuntimeError: boom" in report
    assert ("- harness cost: 4.25 µs of overhead per step (timed on a step that does nothing); 120.0 s of the run's "
            "800.0 s wall time (15.0%) outside timed steps") in report


def test_environment_names_the_variants_that_change_the_allocator(matrix, report):
    assert f"- allocator: system default, except torch tuned: {TUNED_ALLOCATOR}\n" in matrix[1]
    assert "- allocator: system default\n" in report  # the run without worker descriptions


def test_a_resumed_run_has_no_outside_time(tmp_path):
    run = write_run(tmp_path / "run", env={"harness": {"overhead_per_step_s": 1e-5, "wall_s": 10.0,
                                                       "outside_timed_steps_s": None}})
    report = write_report(run).read_text()
    assert "10.00 µs of overhead per step" in report
    assert "time outside timed steps not recorded (a resumed run)" in report
    assert "measured fp32 peak" not in report and "% of peak" not in report


def test_setting_charts_are_embedded(matrix):
    _, report = matrix
    for name in ("precision", "variants", "layout"):
        assert f"![{name}](figures/{name}.png)" in report
    assert "scaling" not in report


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
