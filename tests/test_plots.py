"""Charts from synthetic run folders: valid PNGs, skipped when they have no data, fixed colors."""

import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from harness.core.cases import CASE_KEY
from harness.present.charts.runcharts import TITLES, make_figures, throughput
from harness.present.charts.settingcharts import SETTINGS, scaling, setting_chart
from harness.present.charts.style import FRAMEWORK_COLORS, color
from harness.results.naming import case_label, framework_text, layout_text, sort_cases, variant_text, varied
from harness.results.schema import SUMMARY_CSV
from harness.results.tables import ResultsError, read_run
from tests.fixtures_runs import FAILED, snapshot, write_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Every dimension varies: two precisions, TensorFlow's xla variant, PyTorch's channels_last, two batch sizes.
VARYING = {"modes": ("forward",), "batch_sizes": (16, 32), "precisions": ("fp32", "bf16"),
           "variants": {"tensorflow": ("default", "xla")}, "layouts": {"torch": ("native", "nhwc")}}
ONE_PROCESS = {"parallel": "none", "workers": 1, "nodes": 1}
UNSUPPORTED = {"framework": "jax", "precision": "bf16", "status": "unsupported", "error": "no bf16 here"}


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("plots") / "run", failed=(FAILED, UNSUPPORTED), **VARYING)
    return {p.stem: p for p in make_figures(run)}


@pytest.fixture(scope="module")
def varying_ok(tmp_path_factory):
    summary, _, _ = read_run(write_run(tmp_path_factory.mktemp("varying") / "run", failed=(UNSUPPORTED,),
                                       **VARYING))
    return sort_cases(summary[summary["status"] == "ok"])


# The layer chart needs layers.csv (--per-layer; tests/test_layers.py covers it), the workers chart distributed
# cases (tests/test_distributed_runs.py).
CHARTS = [name for name in TITLES if name not in ("layers", "workers")]


def test_every_chart_is_drawn(figures):
    assert list(figures) == CHARTS


@pytest.mark.parametrize("name", CHARTS)
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
    for name in ("lrn_cost", "scaling", "precision", "variants", "layout", "workers"):
        assert not (run / "figures" / f"{name}.png").exists()


@pytest.mark.parametrize("varying, drawn", [
    ({"precisions": ("fp32", "bf16")}, {"precision"}),
    ({"precisions": ("fp32", "bf16", "fp16"), "failed": (UNSUPPORTED | {"precision": "fp16"},)}, {"precision"}),
    ({"variants": {"torch": ("default", "compile")}}, {"variants"}),
    ({"layouts": {"torch": ("native", "nhwc")}}, {"layout"}),
    # layouts differ between frameworks, but no framework ran two: nothing to compare
    ({"layouts": {"torch": ("nhwc",)}}, set()),
    ({"variants": {"tf1-seed": ("session",)}, "frameworks": ("tensorflow", "tf1-seed")}, set()),
    # only one precision has ok rows
    ({"precisions": ("fp32", "bf16"), "failed": ({"precision": "bf16", "status": "unsupported", "error": "no"},)},
     set()),
], ids=["precision", "precision with an unsupported one", "variants", "layout", "one layout each",
        "the seed's one variant", "one precision ok"])
def test_setting_charts_are_drawn_only_when_their_setting_varies(tmp_path, varying, drawn):
    summary, _, _ = read_run(write_run(tmp_path / "run", modes=("forward",), lrns=(True,), steps=5, **varying))
    ok = summary[summary["status"] == "ok"]
    assert {name for name in SETTINGS if setting_chart(ok, name) is not None} == drawn
    plt.close("all")


def _bar_texts(fig) -> list[tuple[str, str]]:
    """(y tick label, bar text) of every bar of every panel, top to bottom."""
    pairs = []
    for ax in fig.axes:
        ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True),
                       reverse=True)
        texts = sorted(((t.xy[1], t.get_text()) for t in ax.texts if hasattr(t, "xy")), reverse=True)
        pairs += [(label, text) for (_, label), (_, text) in zip(ticks, texts, strict=True)]
    return pairs


@pytest.mark.parametrize("name, column, baseline", [
    ("precision", "precision", "fp32"), ("variants", "variant", "default"), ("layout", "layout", "native")])
def test_setting_chart_bars_are_the_csv_medians_and_their_speed_ups(varying_ok, name, column, baseline):
    fig = setting_chart(varying_ok, name)
    pairs = _bar_texts(fig)
    assert len(pairs) == len(varying_ok)
    medians = {f"{m * 1e3:.2f}" for m in varying_ok["median_s"]}
    speedups = 0
    for label, text in pairs:
        value, _, speed = text.partition("  ")
        assert value in medians, (label, text)
        if speed:
            speedups += 1
            rows = varying_ok[(varying_ok["median_s"] * 1e3).round(2) == float(value)]
            row = rows.iloc[0]
            others = [c for c in CASE_KEY if c != column]
            base = varying_ok[(varying_ok[others] == row[others]).all(axis=1) & (varying_ok[column] == baseline)]
            ratio = base["median_s"].iloc[0] / row["median_s"]
            expected = f"{ratio:.2f}x faster" if ratio > 1 else f"{1 / ratio:.2f}x slower"
            assert speed == expected, (label, text)
    # every case away from the baseline whose baseline case ran says its speed-up
    assert speedups == {"precision": 16, "variants": 8, "layout": 8}[name]
    plt.close(fig)


def test_precision_chart_groups_frameworks_by_precision_and_batch(varying_ok):
    fig = setting_chart(varying_ok, "precision")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]  # top to bottom
    assert labels[:5] == ["tensorflow fp32 graph (default) NHWC (native) batch 16",
                          "tensorflow fp32 xla NHWC (native) batch 16",
                          "torch fp32 eager (default) NCHW (native) batch 16",
                          "torch fp32 eager (default) NHWC batch 16",
                          "jax fp32 jit (default) NHWC (native) batch 16"]
    plt.close(fig)


def test_variant_chart_puts_each_framework_default_first(varying_ok):
    fig = setting_chart(varying_ok, "variants")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[:2] == ["tensorflow graph (default) fp32 NHWC (native) batch 16",
                          "tensorflow xla fp32 NHWC (native) batch 16"]
    plt.close(fig)


def test_scaling_draws_a_line_per_framework_and_setting(varying_ok):
    fig = scaling(varying_ok)
    latency_axis = fig.axes[0]
    labels = [line.get_label() for line in latency_axis.get_lines()]
    # tensorflow 2 variants x 2 precisions, torch 2 layouts x 2, jax 1 x 1 (its bf16 is unsupported); 2 LRN
    assert len(labels) == len(set(labels)) == (4 + 4 + 1) * 2
    assert "torch LRN on bf16 eager (default) NHWC" not in labels  # variant comes before precision
    assert "torch LRN on eager (default) bf16 NHWC" in labels
    assert all(len(line.get_xdata()) == 2 for line in latency_axis.get_lines())
    plt.close(fig)


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
                          "precision": "fp32", "layout": "native", "heads": False, "batch_size": 32, "image_size": 224,
                          **ONE_PROCESS}
                         for v in ("default", "xla")])
    assert varied(rows) == ["variant"]
    assert case_label(rows.iloc[0], varied(rows)) == "jax forward LRN on jit (default)"
    assert case_label(rows.iloc[1], varied(rows)) == "jax forward LRN on xla"
    assert case_label(rows.iloc[1], varied(rows.iloc[:1])) == "jax forward LRN on"


def test_heads_vary_only_where_a_mode_has_both():
    rows = pd.DataFrame([{"framework": "jax", "mode": m, "lrn": True, "variant": "default", "precision": "fp32",
                          "layout": "native", "heads": h, "batch_size": 32, "image_size": 224, **ONE_PROCESS}
                         for m, h in (("forward", False), ("train_step", True))])
    assert varied(rows) == []
    assert varied(pd.concat([rows, rows.iloc[:1].assign(heads=True)])) == ["heads"]


def test_settings_read_as_what_they_are():
    assert variant_text("tensorflow", "default") == "graph (default)"
    assert variant_text("torch", "default") == "eager (default)"
    assert variant_text("tensorflow", "xla") == "xla"
    assert layout_text("torch", "native") == "NCHW (native)"
    assert layout_text("jax", "native") == "NHWC (native)"
    assert layout_text("torch", "nhwc") == "NHWC"
    assert framework_text("tf1-seed") == "tf1-seed (reference)"
    assert framework_text("tf1-seed", long=True) == "tf1-seed (the seed's TF1 program, a reference)"
    assert framework_text("jax") == "jax"


def test_cases_sort_with_defaults_fp32_and_native_first():
    keys = {"framework": "torch", "mode": "forward", "lrn": True, "heads": False, "batch_size": 32,
            "image_size": 224}
    rows = pd.DataFrame([keys | {"variant": v, "precision": p, "layout": lay} for v in ("compile", "default")
                         for p in ("fp16", "bf16", "fp32") for lay in ("nhwc", "native")])
    ordered = sort_cases(rows)
    assert list(ordered[["variant", "precision", "layout"]].itertuples(index=False, name=None))[:4] == [
        ("default", "fp32", "native"), ("default", "fp32", "nhwc"), ("default", "bf16", "native"),
        ("default", "bf16", "nhwc")]


def test_peak_rate_names_the_percent_axis(tmp_path):
    summary, _, _ = read_run(write_run(tmp_path / "run", env={"peak_gflops": 5000.0}))
    fig = throughput(summary[summary["status"] == "ok"], 5000.0)
    assert re.search(r"measured peak \(5,000.0 GFLOP/s\)", fig.axes[2].get_xlabel())
    plt.close(fig)


def test_bad_summary_is_a_user_error_and_changes_nothing(tmp_path):
    run = write_run(tmp_path / "run")
    summary = run / SUMMARY_CSV
    summary.write_text(summary.read_text().replace("median_s", "median"))
    before = snapshot(run)
    with pytest.raises(ResultsError, match="lacks the column"):
        make_figures(run)
    assert snapshot(run) == before
