"""The JAX dp and hybrid backend as real ranks on 127.0.0.1 against the float64 reference on the global batch.

Each test runs one group of ranks (``tests/ranks.py``) that goes through several cases in one process (the
JAX coordinator joins once per process); rank 0 saves what it got, the test compares it with the reference.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from frameworks import reference
from frameworks.distributed import Collective, sent_bytes
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images, random_labels
from harness.analysis.parity import TOLERANCE, TRAIN_STEPS, TRAIN_TOLERANCE, Reference, Trial, relative_error
from tests.ranks import differing, holds, load_ranks, run_ranks

pytest.importorskip("jax")
pytest.importorskip("flax")
# every test here runs real ranks of a real framework: an end-to-end run (make test-fast leaves them out)
pytestmark = pytest.mark.slow

BATCH, SIZE = 2, 70  # per rank; at 70 px conv1's SAME padding is odd (4 before, 5 after)
SEED = 3

RANK_CODE = r'''
import json, os
import numpy as np
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
from frameworks.base import RunConfig
from frameworks.distributed import Group, local_rows
from frameworks.jax_distributed import JaxDistributedBackend, hlo_collectives
from tests.ranks import save_rank
from tests.test_jax_distributed import case_data

job = json.loads(os.environ["JOB"])
group = Group.from_env(parallel=job["parallel"], timeout_s=job["timeout_s"])
out = os.environ["OUT"]
for case in job["cases"]:
    spec, gspec, weights, images, labels = case_data(case, group.world_size)
    b = JaxDistributedBackend(spec, weights, RunConfig("cpu", variant=case["variant"]), group)
    b.set_input(local_rows(images, group))
    got = {"output": b.output_to_numpy(b.forward())}
    got |= {f"grad/{k}": v for k, v in b.grads_to_numpy(b.forward_backward()).items()}
    if spec.heads:
        b.set_labels(local_rows(labels, group))
        for _ in range({steps}):
            b.block(b.train_step())
        got |= {f"param/{k}": v for k, v in b.params_to_numpy().items()}
    save_rank(out, case["name"], group.rank, got)
    if job["checks"]:
        modes = ["forward", "forward_backward"] + (["train_step"] if spec.heads else [])
        plans = {m: [(c.kind, c.nbytes) for c in b.collectives(m)] for m in modes}
        comm = {}
        for m in modes:
            step = b.comm_step(m)
            b.block(step())
            hlo = step.func.compiled.as_text() if plans[m] else ""
            comm[m] = [(c.kind, c.nbytes) for c in hlo_collectives(hlo)]
        values = [group.rank + 0.1234567891234567, 1e-300 * (group.rank + 1), -2.5]
        checks = {"plans": plans, "comm": comm, "memory": b.memory_bytes(), "gathered": b.gather_floats(values),
                  "comm_backend": b.comm_backend(), "describe": b.describe()}
        with open(f"{out}/{case['name']}-rank{group.rank}.json", "w") as f:
            json.dump(checks, f)
b.close()
'''.replace("{steps}", str(TRAIN_STEPS))


def case_weights(spec: ModelSpec, kind: str) -> dict[str, np.ndarray]:
    """``canonical`` (the seed's: truncated normal sd 0.1, zero biases), or ``biased``: weights we did not shape,
    normal with sd 0.05 from another seed, biases from N(0, 0.1)."""
    if kind == "canonical":
        return canonical_weights(spec)
    rng = np.random.default_rng(7)
    return {k: rng.normal(0.0, 0.1 if k.endswith("/biases") else 0.05, shape).astype(np.float32)
            for k, shape in spec.parameter_shapes().items()}


def case_data(case: dict, world_size: int):
    """Per-rank spec, global spec, weights, global images and labels of a case (the same on every rank)."""
    spec = ModelSpec(BATCH, SIZE, case["lrn"], case["heads"])
    gspec = ModelSpec(BATCH * world_size, SIZE, case["lrn"], case["heads"])
    return (spec, gspec, case_weights(spec, case["weights"]), random_images(gspec, SEED),
            random_labels(gspec, SEED))


def make_case(lrn: bool, heads: bool, weights: str, variant: str = "default") -> dict:
    return {"lrn": lrn, "heads": heads, "weights": weights, "variant": variant,
            "name": f"lrn{int(lrn)}-heads{int(heads)}-{weights}-{variant}"}


def run_group(tmp_path: Path, parallel: str, world_size: int, cases: list[dict], checks: bool = False,
              timeout: float = 900) -> Path:
    job = {"parallel": parallel, "cases": cases, "checks": checks, "timeout_s": 300}
    results = run_ranks(RANK_CODE, world_size, tmp_path, timeout, env={"JOB": json.dumps(job)})
    for r in results:
        assert r.returncode == 0, f"rank {r.rank} ({r.returncode}):\n{_tail(r.output)}"
    return tmp_path


def _tail(output: str, lines: int = 40) -> str:
    return "\n".join(line for line in output.splitlines() if not line.startswith("    @"))[-6000:]


def check_case(folder: Path, case: dict, world_size: int) -> None:
    """Every rank's output rows, and rank 0's gradients and trained parameters, against the reference; over the
    tolerance only where float32 took the other branch at a near-kink or near-tie of the data
    (tests.ranks.holds); every rank's gradients and parameters bit for bit rank 0's."""
    _, gspec, weights, images, labels = case_data(case, world_size)
    trial = Trial(weights, images, labels)
    grads = Reference(gspec, trial, False, world_size)
    out = reference.forward(gspec, weights, images)
    ranks = load_ranks(folder, case["name"], world_size)
    for rank, got in enumerate(ranks):
        assert relative_error(got["output"], out[rank * BATCH:(rank + 1) * BATCH]) <= TOLERANCE, (case, rank)
    assert differing(ranks) == [], case["name"]
    checks = [(grads, TOLERANCE)]
    if gspec.heads:  # train_step needs the heads
        checks.append((Reference(gspec, trial, True, world_size), TRAIN_TOLERANCE))
    for ref, tolerance in checks:
        holds(ref, ranks[0], tolerance, case["name"])


def expected_collectives(spec: ModelSpec, parallel: str, world_size: int, mode: str) -> dict[str, int]:
    """Bytes per collective kind of one step, from the tensor shapes: dp all-reduces every gradient; hybrid
    all-reduces the convolutions' gradients and gathers pool5, fc6 and fc7 outputs of the global batch (N x B
    rows), whose gradients come back all-reduced (gloo: no reduce-scatter, see jax_distributed)."""
    shapes = spec.parameter_shapes()
    total = 4 * sum(math.prod(s) for s in shapes.values())
    conv = 4 * sum(math.prod(s) for k, s in shapes.items() if not k.startswith("fc"))
    if world_size == 1:
        return {}
    if mode == "forward":
        return {"all_gather": 4 * world_size * spec.batch_size * (spec.pool5_features + 2 * 4096)} \
            if parallel == "hybrid" and spec.heads else {}
    if parallel == "dp" or not spec.heads:
        return {"all_reduce": total}
    activations = 4 * world_size * spec.batch_size * (spec.pool5_features + 2 * 4096)
    return {"all_gather": activations, "all_reduce": conv + activations}


def _totals(pairs) -> dict[str, int]:
    totals: dict[str, int] = {}
    for kind, nbytes in pairs:
        totals[kind] = totals.get(kind, 0) + nbytes
    return totals


def check_collectives(folder: Path, case: dict, parallel: str, world_size: int) -> None:
    """What the compiled steps move (read from their HLO) against the shapes; comm_step moves the same."""
    spec = ModelSpec(BATCH, SIZE, case["lrn"], case["heads"])
    checks = [json.loads((folder / f"{case['name']}-rank{r}.json").read_text()) for r in range(world_size)]
    rows = world_size * BATCH
    for mode, plan in checks[0]["plans"].items():
        got, want = _totals(plan), expected_collectives(spec, parallel, world_size, mode)
        # a train step also moves a few numbers per image (softmax max and sum over the split logits, the
        # labels, the picked logits) and the loss
        slack = 16 * rows + 4 if mode == "train_step" and world_size > 1 else 0
        assert set(got) == set(want) and all(0 <= got[k] - want[k] <= slack for k in want), (mode, got, want)
        assert _totals(checks[0]["comm"][mode]) == got, (mode, checks[0]["comm"][mode], plan)
        assert all(c["plans"][mode] == plan for c in checks), "ranks compiled different collectives"
    values = [[r + 0.1234567891234567, 1e-300 * (r + 1), -2.5] for r in range(world_size)]
    assert all(c["gathered"] == values for c in checks)
    shapes = spec.parameter_shapes()
    fc = 4 * sum(math.prod(s) for k, s in shapes.items() if k.startswith("fc"))
    total = 4 * sum(math.prod(s) for s in shapes.values())
    held = total - fc + fc // world_size if parallel == "hybrid" else total
    assert checks[0]["memory"] == {"param_bytes": held, "optimizer_bytes": held}
    assert checks[0]["comm_backend"] == "gloo" and checks[0]["describe"]["world_size"] == world_size


@pytest.mark.parametrize("parallel, case", [
    ("hybrid", make_case(True, True, "canonical", "tuned")),
    ("dp", make_case(False, True, "biased")),
], ids=["hybrid-lrn-canonical-tuned", "dp-nolrn-biased"])
def test_two_ranks_match_the_reference(tmp_path, parallel, case):
    folder = run_group(tmp_path, parallel, 2, [case], checks=True)
    check_collectives(folder, case, parallel, 2)
    check_case(folder, case, 2)


CASES = [make_case(lrn, heads, w) for lrn in (True, False) for heads in (True, False) for w in ("canonical", "biased")]


@pytest.mark.parametrize("world_size", [1, 2])
@pytest.mark.parametrize("parallel", ["dp", "hybrid"])
def test_every_case_matches_the_reference(tmp_path, parallel, world_size):
    folder = run_group(tmp_path, parallel, world_size, CASES, checks=True, timeout=1800)
    for case in CASES:
        check_collectives(folder, case, parallel, world_size)
        check_case(folder, case, world_size)


def test_hybrid_moves_less_than_dp_at_224():
    """The point of the trick, from the shapes: at 224 px, batch 32, 2 ranks."""
    spec = ModelSpec(32, 224, True, True)
    dp = [Collective(k, n) for k, n in expected_collectives(spec, "dp", 2, "train_step").items()]
    hybrid = [Collective(k, n) for k, n in expected_collectives(spec, "hybrid", 2, "train_step").items()]
    assert sent_bytes(hybrid, 2) < sent_bytes(dp, 2) / 5


FAILURE_CODE = r'''
import os, time
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
from frameworks.base import RunConfig
from frameworks.distributed import Group, local_rows
from frameworks.jax_distributed import JaxDistributedBackend
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images

group = Group.from_env(parallel="dp", timeout_s=float(os.environ["GROUP_TIMEOUT"]))
how = os.environ["HOW"]
if how == "never_joins" and group.rank == 1:
    time.sleep(3600)
spec = ModelSpec(1, 70, False, False)
print("START", time.strftime("%H:%M:%S"), flush=True)
start = time.monotonic()
try:
    b = JaxDistributedBackend(spec, canonical_weights(spec), RunConfig("cpu"), group)
    b.set_input(local_rows(random_images(ModelSpec(group.world_size, 70, False, False)), group))
    b.block(b.forward_backward())
    print("first step done", flush=True)
    if group.rank == 1:
        if how == "exits":
            b.forward_backward()  # dispatched, then the process is gone mid-step
            os._exit(0)
        time.sleep(3600)  # "stalls": alive, but never joins the next step's all-reduce
    print("START", time.strftime("%H:%M:%S"), flush=True)
    start = time.monotonic()
    b.block(b.forward_backward())
except Exception as e:
    print(f"RAISED after {time.monotonic() - start:.1f} s: {type(e).__name__}: {e}", flush=True)
    os._exit(3)  # not sys.exit: its jax.distributed.shutdown would wait at a barrier for the lost rank
print("second step done", flush=True)
'''


@pytest.mark.parametrize("how", ["exits", "stalls", "never_joins"])
def test_a_lost_rank_makes_the_other_fail_within_the_timeout(tmp_path, how):
    """Rank 1 dies mid-step, stalls before a step's all-reduce, or never joins the rendezvous: rank 0 fails
    within the group's timeout, with a Python exception from the collective (gloo: the peer closed the
    connection, or XLA's collective timeout), or, where JAX's distributed client gives up on its own
    (the rendezvous), with the client's fatal error, which ends the process (no exception to catch)."""
    group_timeout = 20
    results = run_ranks(FAILURE_CODE, 2, timeout=300, out=tmp_path,
                        env={"GROUP_TIMEOUT": str(group_timeout), "HOW": how})
    survivor = results[0]
    output = _tail(survivor.output)
    assert survivor.returncode not in (None, 0), f"rank 0 ended {survivor.returncode}:\n{output}"
    start = _seconds(re.findall(r"^START (\d+):(\d+):(\d+)", survivor.output, re.M)[-1])
    if m := re.search(r"RAISED after ([\d.]+) s: (.*)", survivor.output):
        elapsed, message = float(m[1]), m[2]
        assert re.search(r"[Gg]loo .*(failed|[Tt]imed out)|Connection closed", message), message
    else:
        m = re.search(r"^F\d{4} (\d+):(\d+):(\d+)\.\d+ .*(Terminating process because the JAX distributed.*)",
                      survivor.output, re.M)
        assert m and how == "never_joins", output
        elapsed, message = _seconds(m.groups()[:3]) - start, m[4]
    assert elapsed <= group_timeout + 10, (elapsed, message)


def _seconds(hms) -> int:
    h, m, s = map(int, hms)
    return (h * 60 + m) * 60 + s
