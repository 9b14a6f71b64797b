"""Run N ranks of a test's Python code on 127.0.0.1, with the launch variables set, and end them all.

``run_ranks(code, 2, out=tmp_path)`` runs ``code`` (a Python source string) in two processes; each sees
torchrun's variables, TF_CONFIG, its own core, and ``OUT``: the folder where it writes files for the test to
read (``save_rank``). Every rank is killed when one fails or when ``timeout`` passes, and none outlives the call.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
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


def run_ranks(code: str, world_size: int, out: Path, timeout: float = 300,
              env: dict[str, str] | None = None) -> list[RankResult]:
    """Run ``code`` as ranks 0..world_size-1; the results in rank order."""
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


LOCAL = "output"  # the one tensor of a rank's dump that is its own (its rows of the global batch)


def digest(tensor: np.ndarray) -> np.ndarray:
    """SHA-256 of a tensor's dtype, shape and bytes, as 32 uint8s."""
    h = hashlib.sha256(f"{tensor.dtype}{tensor.shape}".encode())
    h.update(np.ascontiguousarray(tensor).tobytes())
    return np.frombuffer(h.digest(), np.uint8)


def save_rank(out: str | Path, name: str, rank: int, result: dict[str, np.ndarray]) -> None:
    """A rank's dump: rank 0 saves every tensor, the others their output and a digest of each shared tensor (full
    copies of gradients and parameters that must equal rank 0's would double the disk a test takes)."""
    kept = result if rank == 0 else {k: v if k == LOCAL else digest(v) for k, v in result.items()}
    np.savez(Path(out) / f"{name}-rank{rank}.npz", **kept)


def load_ranks(out: Path, name: str, world_size: int) -> list[dict[str, np.ndarray]]:
    """Every rank's dump (``save_rank``), in rank order; the files are deleted once read (a module's cases would
    otherwise hold gigabytes until its end)."""
    ranks = []
    for rank in range(world_size):
        path = out / f"{name}-rank{rank}.npz"
        with np.load(path) as dump:
            ranks.append({k: dump[k] for k in dump.files})
        path.unlink()
    return ranks


def differing(ranks: list[dict[str, np.ndarray]]) -> list[tuple[int, str]]:
    """(rank, tensor) wherever a rank's shared tensors differ from rank 0's by a single bit, or one is missing."""
    zero = {k: digest(v) for k, v in ranks[0].items() if k != LOCAL}
    return [(r, k) for r, got in enumerate(ranks[1:], 1) for k in zero.keys() | got.keys() - {LOCAL}
            if k not in got or k not in zero or not np.array_equal(got[k], zero[k])]
