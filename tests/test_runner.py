"""Worker processes: faults become rows, the other cases complete, files match the schema."""

import json

import pandas as pd
import pytest

from harness.results.schema import STEPS_COLUMNS, SUMMARY_COLUMNS
from harness.results.tables import read_run
from tests.clitools import only_run, tiny_run
from tests.fake_backend import STEP_S


def test_sleeping_backend_is_timed_and_burn_in_excluded(tmp_path):
    r = tiny_run(tmp_path, "fake-sleep", "--lrn", "on", "--modes", "forward", "--steps", "20")
    assert r.returncode == 0, r.stderr
    summary, steps, env = read_run(only_run(tmp_path))
    row = summary.iloc[0]
    assert row.status == "ok"
    assert STEP_S <= row.median_s < STEP_S * 1.5
    assert row.steps == 20 and len(steps[steps.phase == "timed"]) == 20
    assert len(steps[steps.phase == "burn_in"]) == 1
    assert row.compile_s == steps[steps.phase == "burn_in"].seconds.iloc[0]
    assert row.mean_s == pytest.approx(steps[steps.phase == "timed"].seconds.mean())


@pytest.mark.parametrize("fake, status, error", [
    ("fake-crash", "failed", "exited with code 3"),
    ("fake-segv", "failed", "killed by SIGSEGV"),
    ("fake-abort", "failed", "killed by SIGABRT"),
    pytest.param("fake-hang", "timeout", "no result after the 5 s timeout",
                 marks=pytest.mark.slow),  # waits out its timeout: make test-fast leaves it out
    ("fake-oom", "oom", "MemoryError"),
    ("fake-cuda-oom", "oom", "CUDA out of memory"),
])
def test_faults_become_rows_and_the_other_cases_complete(tmp_path, fake, status, error):
    r = tiny_run(tmp_path, f"{fake},fake-sleep", "--lrn", "on", "--timeout", "5")
    assert r.returncode == 0, r.stderr
    summary, steps, _ = read_run(only_run(tmp_path))
    bad = summary[summary.framework == fake]
    good = summary[summary.framework == "fake-sleep"]
    assert list(bad.status) == [status, status]
    assert all(error in e for e in bad.error)
    assert list(good.status) == ["ok", "ok"]
    assert len(steps[(steps.framework == "fake-sleep") & (steps.phase == "timed")]) == 6
    assert status in r.stdout


def test_files_match_the_schema(tmp_path):
    r = tiny_run(tmp_path, "fake-sleep", "--label", "schema")
    assert r.returncode == 0, r.stderr
    run = only_run(tmp_path)
    assert run.name.endswith("-schema")
    assert {p.name for p in run.iterdir()} >= {"summary.csv", "steps.csv", "env.json", "run.log"}
    assert list(pd.read_csv(run / "summary.csv").columns) == SUMMARY_COLUMNS
    assert list(pd.read_csv(run / "steps.csv").columns) == STEPS_COLUMNS
    env = json.loads((run / "env.json").read_text())
    for key in ("python", "os", "cpu_model", "cpu_count", "frameworks", "git_commit", "command", "started",
                "finished", "weights_hash", "harness"):
        assert key in env, key
    assert env["interrupted"] is False
    assert env["harness"]["overhead_per_step_s"] < 20e-6


def test_an_existing_run_folder_is_never_overwritten(tmp_path):
    from harness.results.runfolder import run_id

    existing = tmp_path / run_id("same")
    existing.mkdir()
    (existing / "summary.csv").write_text("precious")
    r = tiny_run(tmp_path, "fake-sleep", "--label", "same")
    if r.returncode == 0:  # the clock moved on to the next second: a new folder, the old one intact
        assert len([p for p in tmp_path.iterdir()]) == 2
    else:
        assert r.returncode == 2 and "already exists" in r.stderr
    assert (existing / "summary.csv").read_text() == "precious"


def test_threads_flag_is_recorded(tmp_path):
    r = tiny_run(tmp_path, "fake-sleep", "--threads", "1", "--modes", "forward", "--lrn", "off")
    assert r.returncode == 0, r.stderr
    env = json.loads((only_run(tmp_path) / "env.json").read_text())
    assert env["cases"][0]["threads"] == 1
