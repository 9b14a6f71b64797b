"""``alexbench run --config FILE.toml``: the shipped files, overrides, and bad files."""

from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.commands.config import ConfigError, load_config
from harness.commands.plan import plan_cases, run_settings
from tests.clitools import ROOT, run_main


def _plan(*argv: str):
    return plan_cases(run_settings(build_parser().parse_args(["run", *argv])))


def test_seed_config_is_the_seed_protocol():
    cases = _plan("--config", str(ROOT / "configs/seed.toml"))
    assert len(cases) == 3 * 2 * 2  # frameworks x LRN on/off x forward/forward_backward
    assert {(c.batch_size, c.image_size, c.burn_in, c.steps, c.heads, c.precision, c.variant) for c in cases} == {
        (32, 224, 10, 100, False, "fp32", "default")}
    assert {c.mode for c in cases} == {"forward", "forward_backward"} and {c.lrn for c in cases} == {True, False}


@pytest.mark.parametrize("name", ["seed", "quick", "sweep", "modes"])
def test_every_shipped_config_plans(name):
    assert _plan("--config", str(ROOT / f"configs/{name}.toml"))


def test_sweep_config_expands_batch_sizes():
    cases = _plan("--config", str(ROOT / "configs/sweep.toml"), "--frameworks", "torch")
    assert sorted({c.batch_size for c in cases}) == [1, 8, 32, 128]


def test_modes_config_has_every_variant_precision_and_training():
    cases = _plan("--config", str(ROOT / "configs/modes.toml"))
    assert {(c.framework, c.variant) for c in cases} >= {("tensorflow", "xla"), ("tensorflow", "eager"),
                                                        ("torch", "compile"), ("jax", "default")}
    assert {c.precision for c in cases} == {"fp32", "bf16", "fp16"}
    assert "train_step" in {c.mode for c in cases}


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('batch_size = [1, 2]\nsteps = 7\nframeworks = "torch"\nheads = true\n')
    cases = _plan("--config", str(path), "--batch-size", "3")
    assert {c.batch_size for c in cases} == {3}
    assert {c.steps for c in cases} == {7} and {c.framework for c in cases} == {"torch"}
    assert all(c.heads for c in cases)


@pytest.mark.parametrize("text, message", [
    ("batch_sizes = 3\n", "unknown key 'batch_sizes'"),
    ('steps = "ten"\n', "key 'steps' must be an integer, got 'ten'"),
    ("batch_size = [1, 2.5]\n", "key 'batch_size' must be an integer or a list of integers"),
    ('heads = "yes"\n', "key 'heads' must be true or false"),
    ("frameworks = []\n", "key 'frameworks' must be a string or a list of strings"),
    ("batch_size = \n", "is not valid TOML"),
])
def test_bad_config_files(tmp_path, capsys, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(str(path))
    r = run_main(capsys, "run", "--config", str(path), "--out", str(tmp_path / "results"))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "results").exists()


def test_values_in_a_config_are_checked_like_flags(tmp_path, capsys):
    path = Path(tmp_path / "c.toml")
    path.write_text('precision = ["fp32", "fp64"]\nbatch_size = 0\n')
    r = run_main(capsys, "run", "--config", str(path), "--out", str(tmp_path / "results"))
    assert r.returncode == 2
    assert "unknown precision 'fp64'" in r.stderr and "--batch-size must be >= 1, got 0" in r.stderr
