"""Starts worker processes, enforces the timeout, and turns how a worker ended into an outcome."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STDERR_TAIL_LINES = 5
WORKER = "harness.measure.worker"


@dataclass
class Outcome:
    """What a worker left: its result object (``status`` always set) and its stderr."""

    result: dict
    stderr: str


def _stderr_tail(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("@")]
    return " | ".join(lines[-STDERR_TAIL_LINES:])[-800:]


def read_progress(stream, on_progress: Callable[[int], None] | None) -> None:
    for line in stream:
        if line.startswith("@progress ") and on_progress is not None:
            on_progress(int(line.split()[1]))


def exit_text(code: int) -> str:
    """``killed by SIGSEGV`` or ``exited with code 3``."""
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def death_outcome(code: int, stderr: str, who: str = "worker") -> Outcome:
    """The outcome of a process that died before writing its result."""
    tail = _stderr_tail(stderr)
    status = "oom" if "memory" in tail.lower() else "failed"
    return Outcome({"status": status, "error": f"{who} {exit_text(code)}" + (f": {tail}" if tail else "")}, stderr)


def run_worker(job: dict, timeout: float, env: dict[str, str],
               on_progress: Callable[[int], None] | None = None) -> Outcome:
    """Run ``python -m harness.measure.worker`` on ``job`` in its own session; never raises for the worker's
    faults (crash, hang, bad exit), only for an interrupt of this process."""
    with tempfile.TemporaryDirectory(prefix="alexbench-") as tmp:
        job_path, result_path, err_path = (Path(tmp) / n for n in ("job.json", "result.json", "stderr"))
        job_path.write_text(json.dumps(job))
        with open(err_path, "w+") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", WORKER, str(job_path), str(result_path)],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                env=env, start_new_session=True,
            )
            reader = threading.Thread(target=read_progress, args=(proc.stdout, on_progress), daemon=True)
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
    return death_outcome(proc.returncode, stderr)
