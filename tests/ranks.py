"""Run N ranks of a test's Python code on 127.0.0.1, with the launch variables set, and end them all.

``run_ranks(code, 2)`` runs ``code`` (a Python source string) in two processes; each sees torchrun's
variables, TF_CONFIG, its own core, and ``OUT``: a folder where it may write files for the test to read.
Every rank is killed when one fails or when ``timeout`` passes, and none outlives the call.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frameworks.distributed import tf_config
from harness.analysis.parity import Reference, judge

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RankResult:
    rank: int
    returncode: int | None  # None: killed because another rank failed or the timeout passed
    output: str


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1 right now (each bound once, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_ranks(code: str, world_size: int, timeout: float = 300, out: Path | None = None,
              env: dict[str, str] | None = None) -> list[RankResult]:
    """Run ``code`` as ranks 0..world_size-1; the results in rank order."""
    out = out or Path(tempfile.mkdtemp(prefix="ranks-"))
    master, *workers = free_ports(world_size + 1)
    cores = sorted(os.sched_getaffinity(0))
    procs, logs = [], []
    for rank in range(world_size):
        rank_env = dict(os.environ, **(env or {}), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", OUT=str(out),
                        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(master), RANK=str(rank),
                        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world_size),
                        TF_CONFIG=tf_config([f"127.0.0.1:{p}" for p in workers], rank),
                        ALEXBENCH_CORE=str(cores[rank % len(cores)]))
        log = open(out / f"rank{rank}.log", "w+")  # noqa: SIM115 (closed below)
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=rank_env, cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.05)
    finally:
        killed = {}
        for rank, p in enumerate(procs):
            killed[rank] = p.poll() is None
            if killed[rank]:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    results = []
    for rank, (p, log) in enumerate(zip(procs, logs, strict=True)):
        log.seek(0)
        results.append(RankResult(rank, None if killed[rank] else p.returncode, log.read()))
        log.close()
    return results


def holds(ref: Reference, got: dict[str, np.ndarray], tolerance: float, what: str = "") -> None:
    """A rank's dump within ``tolerance`` of ``ref``, or over it only where float32 took the other branch at a
    near-kink or near-tie of the data (harness.analysis.parity.judge proves which); a tensor ``got`` lacks (the
    output: each rank's rows, checked apart) counts as the reference's own."""
    result = judge(ref, {k: got.get(k, v) for k, v in ref.expected.items()}, tolerance)
    assert result.passed or result.explained, (what, result.errors, result.flips, result.explained_errors)
