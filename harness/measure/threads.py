"""Giving a worker its share of the machine: the cores it may run on and the thread counts it is told."""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def usable_cores() -> list[int]:
    """The cores this process may run on, in order."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def pin_threads(threads: int | None, first: int = 0) -> None:
    """Give the process ``threads`` cores, from the ``first``-th usable one on (wrapping around when there are
    too few), so every framework's pools size to the same count and ranks on one host get disjoint cores."""
    if threads is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = usable_cores()
    threads = max(1, min(threads, len(cores)))
    os.sched_setaffinity(0, {cores[(first + i) % len(cores)] for i in range(threads)})


def worker_env(threads: int | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment (XLA_*, TF_*, CUDA_VISIBLE_DEVICES...), unbuffered, plus thread caps and the
    caller's process id (a worker dies with it: harness.measure.worker)."""
    env = dict(os.environ if base is None else base, PYTHONUNBUFFERED="1", ALEXBENCH_PARENT=str(os.getpid()))
    if threads is not None:
        env |= dict.fromkeys(THREAD_VARIABLES, str(threads))
    return env

