"""The subprocess entry, one framework per process: ``python -m harness.worker JOB RESULT``.

JOB is a JSON file: ``{"kind": "bench", "case": {...}}`` to time a case, or
``{"kind": "parity", "case": {...}, "weights": PATH, "images": PATH, "dump": PATH}`` to
write the output and gradients (for ``train_step``: the parameters after ``steps``
training steps) to an ``.npz``; ``{"kind": "peak", "case": {...}, "seconds": S}`` to
measure the framework's fp32 ceiling (harness/peak.py); ``{"kind": "layers", "case": {...}}`` to
time each layer alone (harness/layers.py); ``{"kind": "ab", "case": {...}, "other": {...}, "rounds": R}``
to time two backends in this one process, in alternating blocks (harness/ab.py). RESULT receives a JSON object with a
``status``; a worker that dies before writing it is reported by the runner from its
exit code and stderr. Progress goes to stdout as ``@progress N`` lines.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from frameworks import BackendUnavailable, RunConfig, backend_class
from frameworks.base import Unsupported
from frameworks.spec import mode_flops
from frameworks.weights import canonical_weights, load_images, load_weights, random_images, random_labels

from .ab import time_rounds
from .cases import Case
from .layers import run_layers
from .peak import measure_peak
from .results import write_atomic
from .timing import time_steps

OOM_MARKERS = ("out of memory", "resource_exhausted", "outofmemoryerror", "memoryerror")
# A framework's own word that it has no kernel for a dtype, layout or device.
UNSUPPORTED_MARKERS = ("no opkernel", "not implemented for", "could not find device for node",
                       "mixed precision is disallowed")
PROGRESS_EVERY_S = 0.25


def pin_threads(threads: int | None) -> None:
    """Give the process ``threads`` cores, so every framework's pools size to the same count."""
    if threads is not None and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[: max(1, min(threads, len(cores)))])


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def build(case: Case, weights: dict, images: np.ndarray, tf32: bool | None):
    layout = None if case.layout == "native" else case.layout
    config = RunConfig(case.device, case.threads, tf32, case.precision, case.variant, layout)
    backend = backend_class(case.framework)(case.spec, weights, config)
    backend.set_input(images)
    if case.mode == "train_step":
        backend.set_labels(random_labels(case.spec, case.seed))
    return backend


def progress(done: int, state={"last": 0.0}) -> None:  # noqa: B006 (a throttle's memory)
    now = time.monotonic()
    if now - state["last"] >= PROGRESS_EVERY_S:
        state["last"] = now
        print(f"@progress {done}", flush=True)


def describe(backend) -> dict:
    """The backend's own description, with the cores this process may use."""
    info = backend.describe()
    if hasattr(os, "sched_getaffinity"):
        info["threads"] += f" cores={len(os.sched_getaffinity(0))}"
    return info


def run_bench(job: dict) -> dict:
    case = Case.from_dict(job["case"])
    spec = case.spec
    weights = load_weights(job["weights"], spec) if job.get("weights") else canonical_weights(spec, case.seed)
    backend = build(case, weights, random_images(spec, case.seed), case.tf32)
    backend.reset_peak_memory()
    m = time_steps(getattr(backend, case.mode), backend.block, case.burn_in, case.steps, progress)
    print(f"@progress {max(case.burn_in, 1) + case.steps}", flush=True)
    device_peak = backend.peak_memory_bytes()
    return {
        "status": "ok",
        "describe": describe(backend),
        "burn_in": m.burn_in,
        "timed": m.timed,
        "flops": mode_flops(spec, case.mode),
        "peak_mem_bytes": device_peak if device_peak is not None else peak_rss_bytes(),
    }


def run_parity(job: dict) -> dict:
    case = Case.from_dict(job["case"])
    spec = case.spec
    backend = build(case, load_weights(job["weights"], spec), load_images(job["images"], spec), tf32=False)
    if case.mode == "train_step":
        for _ in range(case.steps):
            backend.block(backend.train_step())
        tensors = {f"param/{k}": v for k, v in backend.params_to_numpy().items()}
    else:
        tensors = {"output": backend.output_to_numpy(backend.forward())}
        tensors |= {f"grad/{k}": v for k, v in backend.grads_to_numpy(backend.forward_backward()).items()}
    np.savez(job["dump"], **tensors)
    return {"status": "ok", "describe": backend.describe()}


def run_peak(job: dict) -> dict:
    case = Case.from_dict(job["case"])
    return {"status": "ok"} | measure_peak(case.framework, case.device, case.threads, job["seconds"])


def run_ab(job: dict) -> dict:
    """Both cases (same mode and setting, hence the same weights and batch) in this process, in rounds."""
    a, b = (Case.from_dict(job[k]) for k in ("case", "other"))
    weights, images = canonical_weights(a.spec, a.seed), random_images(a.spec, a.seed)
    backends = [build(case, weights, images, case.tf32) for case in (a, b)]
    steps = [(getattr(backend, case.mode), backend.block) for case, backend in zip((a, b), backends, strict=True)]
    rounds = time_rounds(*steps, a.burn_in, job["rounds"], a.steps)
    return {"status": "ok", "describe": [describe(backend) for backend in backends]} | rounds


JOBS = {"bench": run_bench, "parity": run_parity, "peak": run_peak, "layers": run_layers, "ab": run_ab}


def classify(error: BaseException) -> str:
    if isinstance(error, BackendUnavailable):
        return "unavailable"
    if isinstance(error, Unsupported):
        return "unsupported"
    text = f"{type(error).__name__} {error}".lower()
    if any(m in text for m in OOM_MARKERS):
        return "oom"
    return "unsupported" if any(m in text for m in UNSUPPORTED_MARKERS) else "failed"


def main(argv: list[str]) -> int:
    job_path, result_path = argv
    job = json.loads(Path(job_path).read_text())
    pin_threads(job["case"].get("threads"))
    try:
        result = JOBS[job["kind"]](job)
    except (Exception, MemoryError) as e:  # reported as a row; the runner goes on
        traceback.print_exc()
        result = {"status": classify(e), "error": f"{type(e).__name__}: {e}".splitlines()[0][:500]}
    write_atomic(Path(result_path), json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
