"""Distributed cases through the harness: every rank timed, a step the slowest rank's, faults of one rank ending
the whole case as one row with no process left, two nodes as two alexbench processes on 127.0.0.1, bad input.
The ranks are fakes on torch.distributed's gloo (tests/fake_backend.py)."""

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.measure.ranks import free_port, port_is_free
from harness.present.charts.runcharts import make_figures
from harness.results.tables import read_run
from tests.clitools import ROOT, alexbench, cli_env, ctrl_c_reaches_it, only_run, run_main, tiny_run

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the fake ranks use torch's gloo")
RANKS = ["--modes", "forward_backward", "--lrn", "on"]


def _fake_ranks(tmp_path: Path) -> tuple[Path, dict]:
    folder = tmp_path / "ranks"
    folder.mkdir()
    return folder, {"FAKE_RANKS": str(folder)}


def _none_left(ranks: Path) -> None:
    """Every rank recorded in ``ranks`` is gone, and its rendezvous port is free again."""
    pids = [int(p.name) for p in ranks.iterdir()]
    assert pids, "no rank started"
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if psutil.pid_exists(pid)]
    for port in {int(p.read_text()) for p in ranks.iterdir()}:
        assert port_is_free("127.0.0.1", port)


def test_every_rank_is_timed_and_a_step_is_the_slowest_ranks(tmp_path):
    ranks, env = _fake_ranks(tmp_path)
    done = tiny_run(tmp_path / "out", "fake-sleep", *RANKS, "--workers", "1,2", "--steps", "5", **env)
    assert done.returncode == 0, done.stderr
    summary, steps, env_json = read_run(only_run(tmp_path / "out"))
    assert list(summary.workers) == [1, 2] and set(summary.status) == {"ok"} and set(summary.parallel) == {"dp"}
    two = summary[summary.workers == 2].iloc[0]
    assert two.global_batch == 2 and two.images_per_s == pytest.approx(2 / two.median_s)
    assert two.comm_backend == "gloo" and two.comm_bytes == 4096 and two.allreduce_s > 0
    assert two.scaling_efficiency == pytest.approx(two.images_per_s / (2 * summary.images_per_s.iloc[0]))
    timed = steps[(steps.workers == 2) & (steps.phase == "timed")]
    assert sorted(set(timed["rank"])) == [0, 1] and len(timed) == 10
    slowest = timed.groupby("step")["seconds"].max()
    assert two.median_s == pytest.approx(slowest.median())
    assert env_json["cases"][0]["threads"] == 1  # the cores divided by the most workers
    _none_left(ranks)
    workers_png = only_run(tmp_path / "out") / "figures" / "workers.png"
    assert workers_png in make_figures(only_run(tmp_path / "out")) and workers_png.stat().st_size > 20_000


@pytest.mark.parametrize("fake, status, error", [
    ("fake-crash", "failed", "rank 1 exited with code 3"),
    ("fake-oom", "oom", "rank 1: MemoryError"),
    pytest.param("fake-hang", "timeout", "still running after the 20 s timeout",
                 marks=pytest.mark.slow),  # waits out its timeout: make test-fast leaves it out
])
def test_a_faulty_rank_ends_the_case_as_one_row_and_leaves_no_process(tmp_path, fake, status, error):
    ranks, env = _fake_ranks(tmp_path)
    done = tiny_run(tmp_path / "out", f"{fake},fake-sleep", *RANKS, "--workers", "2", "--timeout", "20", **env)
    assert done.returncode == 0, done.stderr
    summary, _, _ = read_run(only_run(tmp_path / "out"))
    bad, good = summary[summary.framework == fake].iloc[0], summary[summary.framework == "fake-sleep"].iloc[0]
    assert (bad.status, good.status) == (status, "ok") and error in bad.error, bad.error
    _none_left(ranks)


def test_ctrl_c_during_a_distributed_case_keeps_the_finished_ones_and_leaves_no_process(tmp_path):
    ranks, env = _fake_ranks(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--frameworks", "fake-sleep,fake-hang", *RANKS,
                             "--workers", "2", "--batch-size", "1", "--image-size", "66", "--burn-in", "1", "--steps",
                             "3", "--peak-seconds", "0", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(**env), cwd=ROOT,
                            preexec_fn=ctrl_c_reaches_it)
    deadline = time.monotonic() + 300  # generous: on a loaded machine each rank's start takes seconds
    while len(list(ranks.iterdir())) < 4 and time.monotonic() < deadline:  # fake-hang's two ranks are up
        time.sleep(0.1)
    assert len(list(ranks.iterdir())) == 4, "fake-hang's ranks did not start in time"
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary, _, env_json = read_run(only_run(out))
    assert env_json["interrupted"] and list(summary.framework) == ["fake-sleep"]
    _none_left(ranks)


@pytest.mark.slow  # waits out its timeout: make test-fast leaves it out
def test_a_rendezvous_that_never_completes_fails_in_one_line_within_the_timeout(tmp_path):
    ranks, env = _fake_ranks(tmp_path)
    port = free_port()
    start = time.monotonic()
    done = tiny_run(tmp_path / "out", "fake-sleep", *RANKS, "--workers", "2", "--nodes", "2", "--node-rank", "0",
                    "--coordinator", f"127.0.0.1:{port}", "--timeout", "15", **env)
    assert done.returncode == 0 and time.monotonic() - start < 60, done.stderr
    (row,) = read_run(only_run(tmp_path / "out"))[0].itertuples()
    assert row.status == "timeout" and "\n" not in row.error
    assert row.error.startswith(f"the ranks did not meet at 127.0.0.1:{port} within the 15 s timeout: rank(s) 0 "
                                "waited for the others")
    _none_left(ranks)


def test_two_nodes_are_two_alexbench_processes_on_the_loopback_address(tmp_path):
    ranks, env = _fake_ranks(tmp_path)
    port = free_port(span=10)
    args = ["run", "--frameworks", "fake-sleep", *RANKS, "--workers", "2", "--nodes", "2", "--coordinator",
            f"127.0.0.1:{port}", "--batch-size", "1", "--image-size", "66", "--burn-in", "1", "--steps", "4",
            "--peak-seconds", "0", "--timeout", "120"]
    node1 = subprocess.Popen([sys.executable, "-m", "harness", *args, "--node-rank", "1", "--out",
                              str(tmp_path / "node1")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=cli_env(**env), cwd=ROOT)
    node0 = alexbench(*args, "--node-rank", "0", "--out", str(tmp_path / "node0"), **env)
    out1, err1 = node1.communicate(timeout=120)
    assert node0.returncode == 0 and node1.returncode == 0, node0.stderr + err1
    assert not (tmp_path / "node1").exists()  # node 0 writes the run folder
    summary, steps, env_json = read_run(only_run(tmp_path / "node0"))
    assert (summary.status.iloc[0], summary.nodes.iloc[0], summary.workers.iloc[0]) == ("ok", 2, 2)
    assert sorted(set(steps["rank"])) == [0, 1] and env_json["launch"]["coordinator"] == f"127.0.0.1:{port}"
    assert "node 1" in out1
    _none_left(ranks)


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be >= 1, got 0"),
    (["--workers", "2", "--nodes", "2", "--node-rank", "2", "--coordinator", "h:1"],
     "--node-rank 2 must be below --nodes 2"),
    (["--workers", "2", "--coordinator", "nohost"], "--coordinator 'nohost' must be HOST:PORT"),
    (["--workers", "2", "--coordinator", "h:70000"], "--coordinator 'h:70000' must be HOST:PORT"),
    (["--workers", "2", "--nodes", "2"], "--nodes 2 needs --coordinator HOST:PORT"),
    (["--workers", "3", "--nodes", "2", "--coordinator", "h:1"], "--workers 3 is not a multiple of --nodes 2"),
    (["--workers", "2", "--threads", "64"], "2 workers per node x 64 threads need 128 cores"),
    (["--workers", "512"], "512 workers per node x 1 threads need 512 cores"),
    (["--parallel", "hybrid"], "--parallel needs --workers"),
    (["--workers", "2", "--parallel", "mp"], "unknown parallel 'mp'; choose from dp, hybrid"),
])
def test_bad_distributed_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    r = run_main(capsys, "run", "--frameworks", "fake-sleep", "--out", str(tmp_path / "results"), *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "results").exists()


def test_a_busy_coordinator_port_is_a_row_not_a_crash(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = tiny_run(tmp_path / "out", "fake-sleep", *RANKS, "--workers", "2", "--coordinator", f"127.0.0.1:{port}")
    assert done.returncode == 0, done.stderr
    (row,) = read_run(only_run(tmp_path / "out"))[0].itertuples()
    assert row.status == "failed" and f"port {port} of 127.0.0.1 is busy" in row.error
    assert json.loads((only_run(tmp_path / "out") / "env.json").read_text())["launch"]["node_rank"] == 0
