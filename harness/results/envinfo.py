"""What a run records about the machine: versions, CPU, GPU, load and the git commit.

Nothing here imports a framework: versions come from package metadata.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

FRAMEWORK_PACKAGES = ("torch", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "flax", "optax", "numpy")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _run(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=PROJECT_ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> dict | None:
    """Name, driver and CUDA version from nvidia-smi; None without an NVIDIA GPU."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    if not out:
        return None
    name, driver, memory = (s.strip() for s in out.splitlines()[0].split(","))
    header = _run(["nvidia-smi"]) or ""
    cuda = header.split("CUDA Version:")[1].split()[0] if "CUDA Version:" in header else None
    return {"name": name, "driver": driver, "memory": memory, "cuda": cuda, "count": len(out.splitlines())}


def git_commit() -> str | None:
    commit = _run(["git", "rev-parse", "HEAD"])
    if commit and _run(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += "-dirty"
    return commit


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine_busy() -> bool:
    """The 1-minute load average is over the core count: timings will be noisy."""
    load = load_average()
    return load is not None and load > (os.cpu_count() or 1)


def environment() -> dict:
    """The run's environment, for env.json and ``alexbench env``."""
    return {
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": load_average(),
        "busy": machine_busy(),
        "gpu": gpu_info(),
        "frameworks": {p: v for p in FRAMEWORK_PACKAGES if (v := _version(p))},
        "git_commit": git_commit(),
        "thread_env": {k: v for k, v in os.environ.items()
                       if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS", "TF_NUM_INTRAOP_THREADS")},
    }
