"""The subprocess entry, one framework per process: ``python -m harness.measure.worker JOB RESULT``.

JOB is a JSON file ``{"kind": ..., "case": {...}, ...}``; the kinds are harness.measure.jobs's: ``bench``
(time a case), ``parity`` (dump output and gradients, or trained parameters, of given weights and images),
``peak`` (the framework's fp32 ceiling), ``layers`` (each layer alone), ``ab`` (two backends in alternating
rounds). RESULT receives a JSON object with a ``status``; a worker that dies before writing it is reported by
harness.measure.launch from its exit code and stderr. Progress goes to stdout as ``@progress N`` lines.

A worker imports numpy, its one framework and this measuring layer, nothing else: no pandas, SciPy or
matplotlib, whose memory would count in a CPU case's resident-set peak.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from frameworks import BackendUnavailable
from frameworks.base import Unsupported
from harness.core.files import write_atomic

from .jobs import JOBS
from .threads import pin_threads

OOM_MARKERS = ("out of memory", "resource_exhausted", "outofmemoryerror", "memoryerror")
# A framework's own word that it has no kernel for a dtype, layout or device.
UNSUPPORTED_MARKERS = ("no opkernel", "not implemented for", "could not find device for node",
                       "mixed precision is disallowed")
PROGRESS_EVERY_S = 0.25
PR_SET_PDEATHSIG = 1  # prctl's option: the signal this process gets when its parent dies


class Progress:
    """``@progress N`` lines on stdout, at most one per PROGRESS_EVERY_S; ``finish`` prints the last count."""

    def __init__(self):
        self.last_print, self.done = 0.0, 0

    def __call__(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.last_print >= PROGRESS_EVERY_S:
            self.last_print = now
            print(f"@progress {done}", flush=True)

    def finish(self) -> None:
        print(f"@progress {self.done}", flush=True)


def classify(error: BaseException) -> str:
    if isinstance(error, BackendUnavailable):
        return "unavailable"
    if isinstance(error, Unsupported):
        return "unsupported"
    text = f"{type(error).__name__} {error}".lower()
    if any(m in text for m in OOM_MARKERS):
        return "oom"
    return "unsupported" if any(m in text for m in UNSUPPORTED_MARKERS) else "failed"


def die_with_parent() -> None:
    """Be killed when the process that started this worker dies, however it dies (Linux's parent-death signal),
    so that no worker outlives its run; exit now if it is gone already."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.environ.get("ALEXBENCH_PARENT") and os.getppid() != int(os.environ["ALEXBENCH_PARENT"]):
        os._exit(1)


def main(argv: list[str]) -> int:
    job_path, result_path = argv
    die_with_parent()
    job = json.loads(Path(job_path).read_text())
    threads = job["case"].get("threads")
    pin_threads(threads, first=int(os.environ.get("LOCAL_RANK", 0)) * (threads or 0))
    progress = Progress()
    try:
        result = JOBS[job["kind"]](job, progress)
        progress.finish()
    except (Exception, MemoryError) as e:  # reported as a row; the runner goes on
        traceback.print_exc()
        result = {"status": classify(e), "error": f"{type(e).__name__}: {e}".splitlines()[0][:500]}
    write_atomic(Path(result_path), json.dumps(result))
    if "RANK" in os.environ:  # a rank: leave now, not through an engine's exit barrier that waits for lost ranks
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
