"""Weak scaling of a distributed backend's train_step on this host, until the harness launches ranks itself.

    python -m tests.scaling frameworks.tensorflow_distributed:TensorFlowDistributedBackend --ranks 1 2

For each world size, one run of N ranks (tests.ranks, each rank on its own core, ``--threads`` each) builds a backend
per scheme, times ``--steps`` train steps after ``--burn-in`` (the schemes in turns), then as many comm_steps alone,
and gathers every rank's times at rank 0 through the backend's own ``gather_floats``. A step's time is its slowest
rank's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from tests.ranks import run_ranks

CODE = """
import dataclasses, importlib, json, os, time
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
from frameworks.base import RunConfig
from frameworks.distributed import Group, local_rows, sent_bytes
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images, random_labels

args = json.loads(os.environ["SCALING"])
module, name = args["backend"].split(":")
cls = getattr(importlib.import_module(module), name)
group = Group.from_env(timeout_s=600)
spec = ModelSpec(args["batch"], args["size"], True, True)
whole = ModelSpec(args["batch"] * group.world_size, args["size"], True, True)
backends = {}
for parallel in args["parallel"]:
    b = backends[parallel] = cls(spec, canonical_weights(spec), RunConfig(device="cpu", threads=args["threads"]),
                                 dataclasses.replace(group, parallel=parallel))
    b.set_input(local_rows(random_images(whole), group))
    b.set_labels(local_rows(random_labels(whole), group))
times = {(p, label): [] for p in backends for label in ("train_step", "comm_step")}
for label in ("train_step", "comm_step"):
    steps = {p: b.train_step if label == "train_step" else b.comm_step("train_step") for p, b in backends.items()}
    for i in range(args["burn_in"] + args["steps"]):
        for parallel, step in steps.items():  # the schemes in turns: the machine's drift falls on both
            start = time.perf_counter()
            backends[parallel].block(step())
            if i >= args["burn_in"]:
                times[parallel, label].append(time.perf_counter() - start)
report = {}
for parallel, b in backends.items():
    collectives = b.collectives("train_step")
    gathered = {label: b.gather_floats(times[parallel, label]) for label in ("train_step", "comm_step")}
    report[parallel] = {"times": gathered,
                        "collectives": len(collectives), "memory": b.memory_bytes(),
                        "sent_bytes": sent_bytes(collectives, group.world_size), "describe": b.describe()}
    b.close()
if group.rank == 0:
    with open(os.path.join(os.environ["OUT"], "scaling.json"), "w") as f:
        json.dump(report, f)
"""


def run(backend: str, world_size: int, parallel: list[str], batch: int, size: int, threads: int, steps: int,
        burn_in: int, timeout: float) -> dict:
    out = Path(tempfile.mkdtemp(prefix="scaling-"))
    settings = {"backend": backend, "parallel": parallel, "batch": batch, "size": size, "threads": threads,
                "steps": steps, "burn_in": burn_in}
    results = run_ranks(CODE, world_size, timeout=timeout, out=out, env={"SCALING": json.dumps(settings)})
    for r in results:
        if r.returncode != 0:
            raise RuntimeError(f"rank {r.rank} failed ({r.returncode}):\n{r.output[-3000:]}")
    return json.loads((out / "scaling.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backend", help="module:Class of a DistributedBackend")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--parallel", nargs="+", default=["dp", "hybrid"])
    parser.add_argument("--batch", type=int, default=32, help="per rank")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1, help="per rank")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--burn-in", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800)
    a = parser.parse_args()
    medians = {}
    for n in a.ranks:
        report = run(a.backend, n, a.parallel, a.batch, a.size, a.threads, a.steps, a.burn_in, a.timeout)
        for parallel, r in report.items():
            step = [max(ts) for ts in zip(*r["times"]["train_step"], strict=True)]  # the slowest rank's
            comm = [max(ts) for ts in zip(*r["times"]["comm_step"], strict=True)]
            medians[parallel, n] = statistics.median(step)
            per_rank = [round(statistics.median(ts), 3) for ts in r["times"]["train_step"]]
            print(f"{parallel:6} ranks={n} train_step median {medians[parallel, n]:.3f} s (per rank {per_rank}, "
                  f"min {min(step):.3f}, max {max(step):.3f}), {n * a.batch / medians[parallel, n]:.1f} images/s; "
                  f"comm_step median {statistics.median(comm) * 1000:.1f} ms; {r['collectives']} collectives, "
                  f"{r['sent_bytes'] / 1e6:.2f} MB sent per rank; {r['memory']}; {r['describe'].get('threads')}")
    for parallel in a.parallel:
        for n in a.ranks:
            if n > 1 and (parallel, 1) in medians:
                print(f"{parallel}: efficiency at {n} ranks ips({n}) / ({n} ips(1)) = "
                      f"{medians[parallel, 1] / medians[parallel, n]:.2f}")


if __name__ == "__main__":
    main()
