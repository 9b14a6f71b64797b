"""Weak scaling of the torch dp and hybrid backends on this machine's CPUs, until the harness launches ranks itself.

    PYTHONPATH=. python tools/torch_distributed_scaling.py [--steps 15] [--burn-in 3] [--batch 32] [--size 224]

For each of dp and hybrid, at 1 and 2 ranks (tests/ranks.py: 127.0.0.1, one core and one thread per rank):
train_step with the heads, each rank's step times; a step takes as long as its slowest rank. Then the step's
collectives alone (comm_step). Prints one JSON line per run and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from tests.ranks import run_ranks

RANK = """
import json, os, time
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
from frameworks.base import RunConfig
from frameworks.distributed import Group, local_rows, sent_bytes
from frameworks.spec import ModelSpec
from frameworks.torch_distributed import TorchDistributedBackend
from frameworks.weights import canonical_weights, random_images, random_labels
a = json.loads(os.environ["ARGS"])
group = Group.from_env(parallel=a["parallel"], timeout_s=600)
spec = ModelSpec(a["batch"], a["size"], True, True)
world = ModelSpec(a["batch"] * group.world_size, a["size"], True, True)
be = TorchDistributedBackend(spec, canonical_weights(world), RunConfig(device="cpu", threads=1), group)
be.set_input(local_rows(random_images(world), group))
be.set_labels(local_rows(random_labels(world), group))

def timed(step, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        be.block(step())
        times.append(time.perf_counter() - start)
    return times

timed(be.train_step, a["burn_in"])
steps = be.gather_floats(timed(be.train_step, a["steps"]))
comm = be.comm_step("train_step")
timed(comm, 2)
comms = be.gather_floats(timed(comm, a["steps"]))
if group.rank == 0:
    collectives = be.collectives("train_step")
    json.dump({"steps": steps, "comm": comms, "sent_bytes": sent_bytes(collectives, group.world_size),
               "collectives": [[c.kind, c.nbytes, c.name] for c in collectives], "memory": be.memory_bytes(),
               "describe": be.describe()}, open(os.path.join(os.environ["OUT"], "result.json"), "w"))
be.close()
"""


def measure(parallel: str, world_size: int, args) -> dict:
    out = Path(tempfile.mkdtemp(prefix="torch-scaling-"))
    env = {"ARGS": json.dumps({"parallel": parallel, "batch": args.batch, "size": args.size, "steps": args.steps,
                               "burn_in": args.burn_in})}
    ranks = run_ranks(RANK, world_size, timeout=3000, out=out, env=env)
    for r in ranks:
        if r.returncode != 0:
            raise RuntimeError(f"rank {r.rank} failed:\n{r.output[-3000:]}")
    result = json.loads((out / "result.json").read_text())
    step = statistics.median(max(ts) for ts in zip(*result["steps"], strict=True))  # a step: its slowest rank
    comm = statistics.median(max(ts) for ts in zip(*result["comm"], strict=True))
    return result | {"parallel": parallel, "world_size": world_size, "median_step_s": step,
                     "images_per_s": world_size * args.batch / step, "median_comm_s": comm,
                     "load": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--burn-in", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    for parallel in ("dp", "hybrid"):
        runs = {n: measure(parallel, n, args) for n in (1, 2)}
        for run in runs.values():
            print(json.dumps(run), flush=True)
        one, two = runs[1], runs[2]
        print(f"{parallel}: 1 rank {one['median_step_s']:.3f} s/step {one['images_per_s']:.1f} img/s; "
              f"2 ranks {two['median_step_s']:.3f} s/step {two['images_per_s']:.1f} img/s; "
              f"efficiency {two['images_per_s'] / (2 * one['images_per_s']):.1%}; comm_step alone "
              f"{two['median_comm_s']:.3f} s; sent per rank {two['sent_bytes'] / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
