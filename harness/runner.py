"""Starts one worker process per case, enforces the timeout, and turns results into rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cases import Case
from .peak import ALIASES, OPS, pct_of_peak
from .timing import statistics

STDERR_TAIL_LINES = 5


@dataclass
class Outcome:
    """What a worker left: its result object (``status`` always set) and its stderr."""

    result: dict
    stderr: str


def worker_env(case: Case) -> dict[str, str]:
    """The caller's environment (XLA_*, TF_*, CUDA_VISIBLE_DEVICES...), plus thread caps."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if case.threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(case.threads)
    return env


def _stderr_tail(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("@")]
    return " | ".join(lines[-STDERR_TAIL_LINES:])[-800:]


def _read_progress(stream, on_progress: Callable[[int], None] | None) -> None:
    for line in stream:
        if line.startswith("@progress ") and on_progress is not None:
            on_progress(int(line.split()[1]))


def run_worker(job: dict, timeout: float, env: dict[str, str],
               on_progress: Callable[[int], None] | None = None) -> Outcome:
    """Run ``python -m harness.worker`` on ``job`` in its own session; never raises for
    the worker's faults (crash, hang, bad exit), only for an interrupt of this process."""
    with tempfile.TemporaryDirectory(prefix="alexbench-") as tmp:
        job_path, result_path, err_path = (Path(tmp) / n for n in ("job.json", "result.json", "stderr"))
        job_path.write_text(json.dumps(job))
        with open(err_path, "w+") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "harness.worker", str(job_path), str(result_path)],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                env=env, start_new_session=True,
            )
            reader = threading.Thread(target=_read_progress, args=(proc.stdout, on_progress), daemon=True)
            reader.start()
            try:
                proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                if proc.poll() is None:  # timeout, or an interrupt of the runner
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                reader.join(timeout=5)
            err.seek(0)
            stderr = err.read()
        if timed_out:
            return Outcome({"status": "timeout", "error": f"no result after the {timeout:g} s timeout"}, stderr)
        if result_path.exists():
            return Outcome(json.loads(result_path.read_text()), stderr)
    code = proc.returncode
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    tail = _stderr_tail(stderr)
    status = "oom" if "memory" in tail.lower() else "failed"
    return Outcome({"status": status, "error": f"worker {how}" + (f": {tail}" if tail else "")}, stderr)


def case_columns(case: Case) -> dict:
    return {
        "framework": case.framework, "variant": case.variant, "mode": case.mode, "lrn": case.lrn,
        "heads": case.heads, "batch_size": case.batch_size, "image_size": case.image_size,
        "precision": case.precision, "layout": case.layout,
    }


def summary_row(case: Case, result: dict, busy: bool, peak_gflops: float | None = None) -> dict:
    """One summary.csv row; timing columns stay empty unless the case ran."""
    describe = result.get("describe", {})
    row = case_columns(case) | {
        "framework_version": describe.get("framework_version", ""),
        "device": describe.get("device", case.device),
        "device_name": describe.get("device_name", ""),
        "threads": describe.get("threads", "default" if case.threads is None else str(case.threads)),
        "tf32": str(describe.get("tf32", "default" if case.tf32 is None else case.tf32)),
        "burn_in": case.burn_in, "steps": case.steps, "busy": busy, "unstable": False,
        "status": result["status"], "error": result.get("error", ""),
    }
    if result["status"] == "ok":
        row |= statistics(result["timed"], case.batch_size, result["flops"])
        if peak_gflops:
            row["pct_of_peak"] = pct_of_peak(row["gflops_per_s"], peak_gflops)
        row["compile_s"] = result["burn_in"][0]
        row["peak_mem_bytes"] = result["peak_mem_bytes"]
    return row


def step_rows(case: Case, result: dict) -> list[dict]:
    """steps.csv rows: every burn-in step (the first is the compile step), then every timed one."""
    base = case_columns(case)
    return [base | {"phase": phase, "step": i, "seconds": s}
            for phase in ("burn_in", "timed") for i, s in enumerate(result.get(phase, []))]


def measure_peaks(frameworks: list[str], device: str, threads: int | None, seconds: float,
                  timeout: float) -> dict[str, dict]:
    """Each framework's ceiling (harness/peak.py), each in its own worker; failures are kept too."""
    peaks = {}
    for fw in dict.fromkeys(ALIASES.get(f, f) for f in frameworks):
        if fw in OPS:
            case = Case(fw, "forward", device=device, threads=threads)
            job = {"kind": "peak", "case": case.to_dict(), "seconds": seconds}
            peaks[fw] = run_worker(job, timeout, worker_env(case)).result
    return peaks


def run_case(case: Case, timeout: float, on_progress: Callable[[int], None] | None = None,
             weights_path: str | None = None) -> Outcome:
    """Time one case in a fresh worker."""
    job = {"kind": "bench", "case": case.to_dict(), "weights": weights_path}
    start = time.monotonic()
    outcome = run_worker(job, timeout, worker_env(case), on_progress)
    outcome.result.setdefault("wall_s", time.monotonic() - start)
    return outcome
