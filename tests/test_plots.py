"""Charts from synthetic run folders: valid PNGs, skipped when they have no data, fixed colors."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from harness.chartstyle import FRAMEWORK_COLORS, case_label, color, varied
from harness.plots import TITLES, make_figures, throughput
from harness.results import SUMMARY_CSV, ResultsError, read_run
from tests.fixtures_runs import FAILED, snapshot, write_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("plots") / "run", batch_sizes=(16, 32), failed=(FAILED,))
    return {p.stem: p for p in make_figures(run)}


def test_every_chart_is_drawn(figures):
    assert list(figures) == list(TITLES)


@pytest.mark.parametrize("name", list(TITLES))
def test_chart_is_a_valid_non_trivial_png_with_an_svg(figures, name):
    png = figures[name]
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert png.stat().st_size > 20_000
    height, width, _ = plt.imread(png).shape
    assert height > 300 and width > 400
    assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml")


def test_charts_without_data_are_skipped(tmp_path):
    run = write_run(tmp_path / "run", lrns=(True,))
    assert {p.stem for p in make_figures(run)} == {"latency", "timeline", "distribution", "throughput"}
    assert not (run / "figures" / "lrn_cost.png").exists()
    assert not (run / "figures" / "scaling.png").exists()


def test_a_run_without_a_successful_case_draws_nothing(tmp_path):
    run = write_run(tmp_path / "run", frameworks=("jax",), modes=("forward_backward",), lrns=(True,),
                    failed=(FAILED,))
    assert make_figures(run) == []
    assert not (run / "figures").exists()


def test_pct_of_peak_adds_a_throughput_panel(tmp_path):
    summary, _, _ = read_run(write_run(tmp_path / "run"))
    ok = summary[summary["status"] == "ok"]
    assert len(throughput(ok).axes) == 2
    assert len(throughput(ok.assign(pct_of_peak=42.0)).axes) == 3
    assert len(throughput(ok.assign(pct_of_peak=float("nan"))).axes) == 2
    with pytest.raises(ResultsError, match="pct_of_peak has a value that is not a number: 'lots'"):
        throughput(ok.assign(pct_of_peak="lots"))
    plt.close("all")


def test_each_framework_keeps_one_color():
    assert color("torch") == FRAMEWORK_COLORS["torch"]
    assert color("tf1-seed") == color("tf1-seed")
    assert color("tf1-seed") not in FRAMEWORK_COLORS.values()


def test_labels_name_variant_and_precision_only_when_they_vary():
    rows = pd.DataFrame([{"framework": "jax", "mode": "forward", "lrn": True, "variant": v,
                          "precision": "fp32", "layout": "native", "heads": False, "batch_size": 32, "image_size": 224}
                         for v in ("default", "xla")])
    assert varied(rows) == ["variant"]
    assert case_label(rows.iloc[1], varied(rows)) == "jax forward LRN on xla"
    assert case_label(rows.iloc[1], varied(rows.iloc[:1])) == "jax forward LRN on"


def test_bad_summary_is_a_user_error_and_changes_nothing(tmp_path):
    run = write_run(tmp_path / "run")
    summary = run / SUMMARY_CSV
    summary.write_text(summary.read_text().replace("median_s", "median"))
    before = snapshot(run)
    with pytest.raises(ResultsError, match="lacks the column"):
        make_figures(run)
    assert snapshot(run) == before
