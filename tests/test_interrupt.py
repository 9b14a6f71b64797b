"""Ctrl-C or SIGTERM mid-run keeps every finished case; --resume completes the same folder."""

import json
import signal
import subprocess
import sys
import time

import pytest

import frameworks
from harness.results.tables import read_run
from tests.clitools import ROOT, alexbench, cli_env, ctrl_c_reaches_it, only_run

# A real framework when one is installed (the case interrupted is the slow fake that follows it).
FIRST = (frameworks.available() or ["fake-sleep"])[0]
ARGS = ["--frameworks", f"{FIRST},fake-slow", "--lrn", "both", "--modes", "forward", "--batch-size", "1",
        "--image-size", "66", "--burn-in", "1", "--steps", "25"]


def _wait_for_rows(run_dir, rows: int, limit_s: float = 300) -> None:
    """Until summary.csv has more than ``rows`` rows (a generous limit: a loaded machine starts frameworks slowly)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        summary = run_dir / "summary.csv"
        if summary.exists() and len(summary.read_text().strip().splitlines()) > rows:
            return
        time.sleep(0.1)
    raise AssertionError("no finished case in time")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_finished_cases_and_resume_completes(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", *ARGS, "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT,
                            preexec_fn=ctrl_c_reaches_it)
    deadline = time.monotonic() + 120
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    run = only_run(tmp_path)
    _wait_for_rows(run, 1)  # FIRST with LRN is done; FIRST without LRN or fake-slow (5 s) is running
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in out
    summary, steps, env = read_run(run)
    assert env["interrupted"] is True
    assert len(summary) in (1, 2) and set(summary.status) == {"ok"}
    before = summary.copy()

    r = alexbench("run", "--resume", str(run))
    assert r.returncode == 0, r.stderr
    summary, steps, env = read_run(run)
    assert env["interrupted"] is False and env["resumed"] == 1
    assert len(summary) == 4 and set(summary.status) == {"ok"}
    assert summary.iloc[: len(before)].equals(before)  # nothing finished was lost or redone
    assert len(steps[steps.phase == "timed"]) == 4 * 25
    assert len(summary.drop_duplicates(["framework", "lrn"])) == 4
    assert set(summary.framework) == {FIRST, "fake-slow"}


def test_resume_of_a_complete_run_runs_nothing(tmp_path):
    r = alexbench("run", "--frameworks", "fake-sleep", *ARGS[2:], "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    run = only_run(tmp_path)
    before = (run / "steps.csv").read_text()
    r = alexbench("run", "--resume", str(run))
    assert r.returncode == 0 and "0 of" in r.stdout
    assert (run / "steps.csv").read_text() == before
    assert json.loads((run / "env.json").read_text())["resumed"] == 1
