"""Per-layer timing: every layer of each installed framework timed alone, forward and backward, at a tiny size,
and its forward sum near the whole network's forward (a structure check, not a speed test); the chart."""

import math

import pandas as pd
import pytest

from frameworks import available
from frameworks.spec import forward_backward_flops, forward_flops, layer_table
from harness.analysis.layersum import backward_runs_forward, whole_network_check
from harness.core.cases import Case
from harness.measure.launch import run_worker
from harness.measure.layers import DIRECTIONS
from harness.measure.threads import worker_env
from harness.present.charts.layerchart import layer_figure
from harness.results.rows import layer_rows, summary_row
from harness.results.schema import LAYERS_COLUMNS, LAYERS_CSV, SUMMARY_COLUMNS, SUMMARY_CSV
from harness.results.tables import write_table

TINY = {"lrn": True, "heads": True, "batch_size": 1, "image_size": 70, "device": "cpu", "threads": 1,
        "burn_in": 2, "steps": 10}
# At this size each layer alone pays its own dispatch (a tf.function or jit call, autograd's bookkeeping) that the
# whole network pays once, and the network's compiler may fuse across layers (sum above 1x); a layer alone finds its
# input in a warm cache, while in the network the previous layer just wrote it (sum below 1x). The FC heads' weights
# (fc7 alone is 64 MB) keep both effects small, so the sum stays within a factor of 2 of the whole.
LOW, HIGH = 0.5, 2.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The layers job in its own process, as a worker runs it (kind "layers" in the worker's dispatch).
def _run_layers(case: Case) -> dict:
    return run_worker({"kind": "layers", "case": case.to_dict()}, 600, worker_env(case.threads)).result


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["tensorflow", "torch", "jax"])
def test_every_layer_is_timed_both_ways_and_sums_near_the_network(framework):
    if framework not in available():
        pytest.skip(f"{framework} not installed")
    case = Case(framework, "forward", **TINY)
    result = _run_layers(case)
    assert result["status"] == "ok", result
    rows = layer_rows(case, result)
    expected = [(layer.name, d) for layer in layer_table(case.spec) for d in DIRECTIONS]
    assert [(r["layer"], r["direction"]) for r in rows] == expected
    assert all(math.isfinite(r[s]) and r[s] > 0 for r in rows for s in ("median_s", "mean_s"))
    assert set(LAYERS_COLUMNS) <= set(rows[0])
    assert sum(r["flops"] for r in rows if r["direction"] == "forward") == forward_flops(case.spec)
    assert sum(r["flops"] for r in rows) == forward_backward_flops(case.spec)

    network = run_worker({"kind": "bench", "case": case.to_dict()}, 600, worker_env(case.threads)).result
    assert network["status"] == "ok", network
    check = whole_network_check(pd.DataFrame(rows), pd.DataFrame([summary_row(case, network, busy=False)]))
    assert list(check["mode"]) == ["forward"]
    assert LOW <= check["ratio"].iloc[0] <= HIGH, check.to_dict("records")


def _layer_row(framework: str, layer, direction: str, ms: float) -> dict:
    key = Case(framework, "forward", heads=True, batch_size=2, image_size=70).columns()
    return key | {"layer": layer.name, "kind": layer.kind, "direction": direction, "median_s": ms / 1e3,
                  "mean_s": ms / 1e3, "std_s": 0.0, "iqr_s": 0.0, "flops": layer.flops, "gflops_per_s": 1.0}


def _synthetic_layers(frameworks=("tensorflow", "torch", "jax")) -> list[dict]:
    table = layer_table(Case("jax", "forward", heads=True, batch_size=2, image_size=70).spec)
    return [_layer_row(fw, layer, d, (i + 1) * (2 if d == "backward" else 1) * (1 + j))
            for j, fw in enumerate(frameworks) for i, layer in enumerate(table) for d in DIRECTIONS]


def test_whole_network_check_sums_forward_and_both_directions():
    # synthetic: each layer's backward takes twice its forward
    layers = pd.DataFrame(_synthetic_layers(("torch", "tensorflow")))
    network = [Case(fw, mode, heads=True, batch_size=2, image_size=70).columns() | {"status": "ok", "median_s": 0.2}
               for fw in ("torch", "tensorflow") for mode in ("forward", "forward_backward")]
    check = whole_network_check(layers, pd.DataFrame(network)).set_index(["framework", "mode"])
    for fw in ("torch", "tensorflow"):
        forward = layers[(layers["framework"] == fw) & (layers["direction"] == "forward")]["median_s"].sum()
        assert check.loc[(fw, "forward"), "layers_sum_s"] == pytest.approx(forward)
        assert check.loc[(fw, "forward"), "ratio"] == pytest.approx(forward / 0.2)
        # TensorFlow's backward step runs its forward too: the backward alone is the forward_backward sum
        both = 2 * forward if backward_runs_forward(fw) else 3 * forward
        assert check.loc[(fw, "forward_backward"), "layers_sum_s"] == pytest.approx(both)


def test_layer_figure_draws_a_png_and_svg(tmp_path):
    write_table(tmp_path / LAYERS_CSV, _synthetic_layers(), LAYERS_COLUMNS)
    png = layer_figure(tmp_path)
    assert png == tmp_path / "figures" / "layers.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 10_000
    assert png.with_suffix(".svg").is_file()


def test_layer_figure_reads_the_runs_summary_for_its_title(tmp_path):
    write_table(tmp_path / LAYERS_CSV, _synthetic_layers(("torch",)), LAYERS_COLUMNS)
    summary = Case("torch", "forward").columns() | {"framework_version": "9.9", "device": "cpu",
                                                         "device_name": "cpu", "status": "ok", "unstable": False,
                                                         "busy": False}
    write_table(tmp_path / SUMMARY_CSV, [summary], SUMMARY_COLUMNS)
    assert layer_figure(tmp_path).is_file()


def test_no_layer_figure_without_layers_csv(tmp_path):
    assert layer_figure(tmp_path) is None
    assert not (tmp_path / "figures").exists()
