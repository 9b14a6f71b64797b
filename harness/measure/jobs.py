"""What a worker process can be asked to do, one function per kind of job (harness.measure.worker).

Each takes the job (a dict read from JSON) and a progress callback (steps done), and returns the result
object the worker writes back: ``status`` and what the job measured, raw (every step's time).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from frameworks.distributed import Group, local_rows, sent_bytes
from frameworks.spec import mode_flops
from frameworks.weights import load_images, load_weights, random_images, random_labels
from harness.core.cases import Case

from .backends import MemoryWatch, build, describe, seed_inputs
from .layers import run_layers
from .peak import measure_peak
from .rounds import time_rounds
from .timing import time_steps

Progress = Callable[[int], None]
COMM_STEPS = 10  # timed steps of a distributed step's collectives alone
READY = "@ready"  # what a rank prints once it has joined its group


def run_bench(job: dict, progress: Progress) -> dict:
    """Time a case: burn-in and timed steps; the memory peak, and how far the steps took it above what was in use
    just before the first of them (the memory the steps themselves need)."""
    case = Case.from_dict(job["case"])
    if case.distributed:
        return run_rank(case, job, progress)
    backend = build(case, *seed_inputs(case, job.get("weights")))
    memory = MemoryWatch(backend)
    m = time_steps(getattr(backend, case.mode), backend.block, case.burn_in, case.steps, progress)
    peak, steps = memory.bytes()
    return {"status": "ok", "describe": describe(backend), "burn_in": m.burn_in, "timed": m.timed,
            "flops": mode_flops(case.spec, case.mode), "peak_mem_bytes": peak, "step_mem_bytes": steps}


def run_rank(case: Case, job: dict, progress: Progress) -> dict:
    """One rank of a distributed case (its place from the launch variables): the seed's loop on its rows of the
    global batch, then the step's collectives alone; every rank's times gathered at rank 0 through the framework's
    own collective. Rank 0 returns each step's slowest rank and every rank's times; the others only their status."""
    group = Group.from_env(parallel=case.parallel, timeout_s=job["timeout"])
    weights = seed_inputs(case, job.get("weights"))[0]
    images = local_rows(random_images(case.global_spec, case.seed), group)
    labels = local_rows(random_labels(case.global_spec, case.seed), group)
    backend = build(case, weights, images, labels=labels, group=group)
    print(READY, flush=True)  # this rank has joined its group
    memory = MemoryWatch(backend)
    m = time_steps(getattr(backend, case.mode), backend.block, case.burn_in, case.steps, progress)
    peak, step_mem = memory.bytes()
    collectives = backend.collectives(case.mode)
    comm = time_steps(backend.comm_step(case.mode), backend.block, 1, COMM_STEPS).timed if collectives else [0.0]
    parts = [m.burn_in, m.timed, comm, [peak, step_mem]]
    gathered = backend.gather_floats([t for part in parts for t in part])
    about = {"describe": describe(backend), "comm_backend": backend.comm_backend()} | backend.memory_bytes()
    backend.close()
    if group.rank != 0:
        return {"status": "ok"}
    bounds = np.cumsum([0] + [len(p) for p in parts])
    burn, timed, comm, mem = (np.array([g[a:b] for g in gathered]) for a, b in zip(bounds, bounds[1:], strict=False))
    return {"status": "ok", "burn_in": burn.max(axis=0).tolist(), "timed": timed.max(axis=0).tolist(),
            "rank_burn_in": burn.tolist(), "rank_timed": timed.tolist(), "flops": mode_flops(case.spec, case.mode),
            "peak_mem_bytes": int(mem[:, 0].max()), "step_mem_bytes": int(mem[:, 1].max()),
            "allreduce_s": float(np.median(comm.max(axis=0))),
            "comm_bytes": sent_bytes(collectives, group.world_size)} | about


def run_parity(job: dict, progress: Progress) -> dict:
    """For each of ``job["trials"]`` (weights, images and labels files), a backend built on them writes its
    output and gradients (for ``train_step``: the parameters after ``steps`` training steps) to the trial's
    ``dump``, TF32 off unless the case turns it on. A distributed case's ranks each take their rows of the files'
    global batch; rank 0 writes the dump: its own rows' output, the gradients averaged over the ranks, the
    parameters every rank holds."""
    case = Case.from_dict(job["case"])
    group = Group.from_env(parallel=case.parallel, timeout_s=job["timeout"]) if case.distributed else None
    rows = (lambda a: local_rows(a, group)) if group else (lambda a: a)
    for trial in job["trials"]:
        images, labels = load_images(trial["images"], case.global_spec), np.load(trial["labels"])
        backend = build(case, load_weights(trial["weights"], case.spec), rows(images), tf32=bool(case.tf32),
                        labels=rows(labels), group=group)
        if case.mode == "train_step":
            for _ in range(case.steps):
                backend.block(backend.train_step())
            tensors = {f"param/{k}": v for k, v in backend.params_to_numpy().items()}
        else:
            tensors = {"output": backend.output_to_numpy(backend.forward())}
            tensors |= {f"grad/{k}": v for k, v in backend.grads_to_numpy(backend.forward_backward()).items()}
        if group is None or group.rank == 0:
            np.savez(trial["dump"], **tensors)
        if group is not None:
            backend.close()
    return {"status": "ok", "describe": backend.describe()}


def run_peak(job: dict, progress: Progress) -> dict:
    case = Case.from_dict(job["case"])
    return {"status": "ok"} | measure_peak(case.framework, case.device, case.threads, job["seconds"])


def run_ab(job: dict, progress: Progress) -> dict:
    """Both cases (same mode and setting, hence the same weights and batch) in this process, in rounds."""
    a, b = (Case.from_dict(job[k]) for k in ("case", "other"))
    weights, images = seed_inputs(a)
    backends = [build(case, weights, images) for case in (a, b)]
    steps = [(getattr(backend, case.mode), backend.block) for case, backend in zip((a, b), backends, strict=True)]
    rounds = time_rounds(*steps, a.burn_in, job["rounds"], a.steps)
    return {"status": "ok", "describe": [describe(backend) for backend in backends]} | rounds


JOBS = {"bench": run_bench, "parity": run_parity, "peak": run_peak, "layers": run_layers, "ab": run_ab}
