"""``alexbench targets``: each target judged from a run's files."""

import numpy as np

from harness.analysis.targets import check
from harness.core.cases import CASE_KEY
from harness.core.files import write_json
from harness.results.schema import ENV_JSON, STEPS_COLUMNS, STEPS_CSV, SUMMARY_COLUMNS, SUMMARY_CSV
from harness.results.tables import write_table
from tests.clitools import alexbench

BASE = {"variant": "default", "lrn": True, "heads": False, "batch_size": 32, "image_size": 224, "precision": "fp32",
        "workers": 1, "nodes": 1, "parallel": "none",
        "layout": "native", "status": "ok", "error": "", "busy": False, "unstable": False}


def _run(tmp_path, rows, env, steps=()):
    """A run folder with these summary rows and, for each (row, seconds) in ``steps``, its timed steps."""
    write_table(tmp_path / SUMMARY_CSV, [BASE | r for r in rows], SUMMARY_COLUMNS)
    timed = [{c: (BASE | r)[c] for c in CASE_KEY} | {"rank": 0, "phase": "timed", "step": i, "seconds": t}
             for r, seconds in steps for i, t in enumerate(seconds)]
    write_table(tmp_path / STEPS_CSV, timed, STEPS_COLUMNS)
    write_json(tmp_path / ENV_JSON, env)
    return tmp_path


def _row(fw, mode, pct, median=0.1, variant="default"):
    return {"framework": fw, "mode": mode, "pct_of_peak": pct, "gflops_per_s": pct * 2, "median_s": median,
            "variant": variant}


ENV = {"peak_gflops": 200.0, "harness": {"overhead_per_step_s": 1e-7, "wall_s": 100.0, "outside_timed_steps_s": 10.0}}


def test_all_targets_met(tmp_path):
    run = _run(tmp_path, [_row("torch", "forward", 60), _row("torch", "forward", 75, variant="compile"),
                          _row("torch", "forward_backward", 56), _row("tensorflow", "forward", 80, 0.09),
                          _row("tf1-seed", "forward", 70, 0.1)], ENV)
    lines, met = check(run)
    assert met, lines
    assert any("torch" in ln and "compile" in ln and "75.0%" in ln for ln in lines)
    assert any("ratio 0.900" in ln for ln in lines)
    assert any("0.10 us" in ln for ln in lines) and any("= 10%" in ln for ln in lines)


def test_each_miss_is_reported(tmp_path):
    env = ENV | {"harness": {"overhead_per_step_s": 3e-5, "wall_s": 100.0, "outside_timed_steps_s": 30.0}}
    run = _run(tmp_path, [_row("jax", "forward_backward", 40), _row("tensorflow", "forward", 90, 0.12),
                          _row("tf1-seed", "forward", 90, 0.1)], env)
    lines, met = check(run)
    assert not met
    assert sum(ln.startswith("MISS") for ln in lines) == 4, lines
    r = alexbench("targets", str(run))
    assert r.returncode == 1 and "MISS" in r.stdout


def test_a_run_without_peak_cannot_be_judged(tmp_path):
    run = _run(tmp_path, [_row("torch", "forward", float("nan"))], {})
    lines, met = check(run)
    assert met and "cannot be judged" in lines[0]


def _seed_comparison(tmp_path, tf_seconds, seed_seconds):
    tf, seed = (_row(fw, "forward", 80, float(np.median(t))) for fw, t in (("tensorflow", tf_seconds),
                                                                          ("tf1-seed", seed_seconds)))
    lines, _ = check(_run(tmp_path, [tf, seed], {}, [(tf, tf_seconds), (seed, seed_seconds)]))
    start = next(i for i, ln in enumerate(lines) if "TF1 program" in ln)
    return "\n".join(lines[start:])  # the verdict, and on a miss the pointer to `alexbench ab`


def test_a_slower_median_inside_the_noise_is_not_a_miss(tmp_path):
    rng = np.random.default_rng(0)
    seed = 0.2 + rng.exponential(0.02, 100)
    line = _seed_comparison(tmp_path, seed[::-1] * 1.01, seed)  # the same spread, 1% slower
    assert line.startswith("ok") and "ratio 1.010" in line and "not significantly slower" in line, line
    assert "alexbench ab" not in line


def test_a_significantly_slower_tensorflow_is_a_miss(tmp_path):
    rng = np.random.default_rng(0)
    seed = 0.2 + rng.exponential(0.002, 100)
    line = _seed_comparison(tmp_path, seed[::-1] * 1.05, seed)
    assert line.startswith("MISS") and "ratio 1.050, slower: one-sided Mann-Whitney p = " in line, line
    assert line.endswith("`alexbench ab tensorflow tf1-seed` times both in one process")
