"""Time the JAX dp and hybrid backends' train_step at 1 and 2 ranks (weak scaling), one core per rank.

Not a test: a measurement to run alone on a quiet machine, until the harness launches distributed cases.
    PYTHONPATH=. python tests/measure_jax_distributed.py [--batch 32 --size 224 --burn-in 3 --steps 15]
Each rank times its own steps (``block`` on the result); a step's time is the slowest rank's. The ranks' times
come back through ``gather_floats``. Also: comm_step alone, the collectives XLA inserted and where its schedule
put them (how much compute comes after each: 0 means no overlap with the backward).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from frameworks.distributed import Collective, sent_bytes  # noqa: E402
from tests.ranks import run_ranks  # noqa: E402

RANK_CODE = r'''
import json, os, re, time
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
from frameworks.base import RunConfig
from frameworks.distributed import Group, local_rows
from frameworks.jax_distributed import JaxDistributedBackend, hlo_collectives
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images, random_labels

job = json.loads(os.environ["JOB"])
group = Group.from_env(parallel=job["parallel"], timeout_s=900)
spec = ModelSpec(job["batch"], job["size"], True, True)
gspec = ModelSpec(job["batch"] * group.world_size, job["size"], True, True)
b = JaxDistributedBackend(spec, canonical_weights(spec), RunConfig("cpu", threads=1), group)
b.set_input(local_rows(random_images(gspec), group))
b.set_labels(local_rows(random_labels(gspec), group))
start = time.perf_counter()
hlo = b.compiled_hlo("train_step")
compile_s = time.perf_counter() - start


def timed(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        b.block(fn())
        times.append(time.perf_counter() - t)
    return times


timed(b.train_step, job["burn_in"])
steps = timed(b.train_step, job["steps"])
comm = b.comm_step("train_step")
timed(comm, 2)
comm_times = timed(comm, job["comm_steps"])
steps, comm_times = b.gather_floats(steps), b.gather_floats(comm_times)


def schedule(hlo):
    """Each collective of the entry computation and the compute ops the schedule puts after it (one device: none,
    XLA's one-device gathers move nothing)."""
    if group.world_size == 1:
        return []
    entry = hlo[hlo.index("\nENTRY"):]
    lines = entry.splitlines()
    compute = [bool(re.search(r" (fusion|convolution|dot|custom-call)\(", line)) for line in lines]
    found = []
    for i, line in enumerate(lines):
        for c in hlo_collectives(line):
            found.append({"name": c.name, "kind": c.kind, "nbytes": c.nbytes, "compute_after": sum(compute[i + 1:]),
                          "compute_total": sum(compute)})
    return found


if group.rank == 0:
    result = {"parallel": job["parallel"], "world_size": group.world_size, "steps": steps, "comm": comm_times,
              "collectives": [(c.kind, c.nbytes, c.name) for c in b.collectives("train_step")],
              "schedule": schedule(hlo), "memory": b.memory_bytes(), "compile_s": compile_s,
              "describe": b.describe(), "affinity": sorted(os.sched_getaffinity(0)), "load": os.getloadavg()}
    with open(os.path.join(os.environ["OUT"], "result.json"), "w") as f:
        json.dump(result, f)
b.close()
'''


def measure(parallel: str, world_size: int, args) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"jaxdist-{parallel}{world_size}-"))
    job = {"parallel": parallel, "batch": args.batch, "size": args.size, "burn_in": args.burn_in,
           "steps": args.steps, "comm_steps": args.comm_steps}
    results = run_ranks(RANK_CODE, world_size, timeout=args.timeout, out=out, env={"JOB": json.dumps(job)})
    for r in results:
        if r.returncode != 0:
            raise SystemExit(f"{parallel} x{world_size} rank {r.rank} failed ({r.returncode}):\n{r.output[-4000:]}")
    result = json.loads((out / "result.json").read_text())
    per_step = [max(times) for times in zip(*result["steps"], strict=True)]  # the slowest rank's
    result["step_s"] = statistics.median(per_step)
    result["comm_s"] = statistics.median(max(times) for times in zip(*result["comm"], strict=True))
    result["images_per_s"] = args.batch * world_size / result["step_s"]
    plan = [Collective(kind, nbytes) for kind, nbytes, _ in result["collectives"]]
    result["sent_bytes"] = sent_bytes(plan, world_size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--burn-in", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--comm-steps", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--parallel", default="dp,hybrid")
    parser.add_argument("--json", type=Path, help="write every result here")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    results = []
    for parallel in args.parallel.split(","):
        for world_size in (1, 2):
            r = measure(parallel, world_size, args)
            results.append(r)
            print(f"{parallel:6} x{world_size}: step {r['step_s']:.3f} s (median of {args.steps}), "
                  f"{r['images_per_s']:.1f} img/s, comm_step {r['comm_s']:.3f} s, sent/rank "
                  f"{r['sent_bytes'] / 1e6:.1f} MB, compile {r['compile_s']:.0f} s, load {r['load']}", flush=True)
            for rank, times in enumerate(r["steps"]):
                print(f"    rank {rank} steps: {' '.join(f'{t:.3f}' for t in times)}")
            for c in r["schedule"]:
                print(f"    {c['kind']:14} {c['nbytes']:>12,} B  {c['name']:22} compute ops after it: "
                      f"{c['compute_after']} of {c['compute_total']}")
        one, two = results[-2], results[-1]
        print(f"{parallel:6} scaling efficiency ips(2)/(2 ips(1)) = "
              f"{two['images_per_s'] / (2 * one['images_per_s']):.2f}", flush=True)
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
