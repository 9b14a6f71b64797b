"""PyTorch's data-parallel and hybrid-parallel backend as N ranks on 127.0.0.1 (gloo): parity with the float64
reference on the global batch, the collectives it says a step runs against those torch's flight recorder saw,
and what the other ranks do when one dies or goes silent."""

from __future__ import annotations

import functools
import json
import shutil

import numpy as np
import pytest

from frameworks import reference
from frameworks.distributed import PARALLEL, Group, local_rows
from frameworks.spec import FCS, ModelSpec
from frameworks.weights import canonical_weights, random_images, random_labels
from harness.analysis.parity import (
    TOLERANCE,
    TRAIN_STEPS,
    TRAIN_TOLERANCE,
    Reference,
    Trial,
    relative_error,
)
from tests.ranks import differing, holds, load_ranks, run_ranks

pytest.importorskip("torch")
# every test here runs real ranks of a real framework: an end-to-end run (make test-fast leaves them out)
pytestmark = pytest.mark.slow

BATCH, SIZE = 2, 70  # per rank; 70 px: conv1's SAME padding is odd there
MODES = ("forward", "forward_backward", "train_step")

# Every rank starts with this: its own core, the imports, the case's inputs.
PROLOGUE = """
import json, os, time
import numpy as np
from frameworks.base import RunConfig
from frameworks.distributed import Group, local_rows
from frameworks.torch_distributed import TorchDistributedBackend
from tests.ranks import save_rank
from tests.test_torch_distributed import case_inputs
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
OUT = os.environ["OUT"]
"""


def other_weights(spec: ModelSpec) -> dict[str, np.ndarray]:
    """Weights the seed never makes: another seed, convolutions x0.5, FC x0.2, biases from N(0, 0.1)."""
    rng = np.random.default_rng(2024)
    return {k: (rng.normal(0, 0.1, v.shape) if k.endswith("/biases") else v * (0.5 if k.startswith("conv") else 0.2))
            .astype(np.float32) for k, v in canonical_weights(spec, seed=7).items()}


@functools.cache  # making the weights takes seconds; dp and hybrid share them, and nothing writes into them
def case_inputs(world_size: int, lrn: bool = True, heads: bool = True, weights: str = "other"):
    """(per-rank spec, global spec, weights, global images, global labels): BATCH rows per rank."""
    spec = ModelSpec(world_size * BATCH, SIZE, lrn, heads)
    w = canonical_weights(spec) if weights == "canonical" else other_weights(spec)
    return ModelSpec(BATCH, SIZE, lrn, heads), spec, w, random_images(spec), random_labels(spec)


# parity: every case builds a backend in the rank's one process group and saves forward's output,
# forward_backward's gradients and, with heads, the parameters after TRAIN_STEPS training steps
PARITY = PROLOGUE + """
import datetime
import torch.distributed as dist
# one group for every case; each backend joins it (a destroyed group cannot be made again on the same port)
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
for case in json.loads(os.environ["CASES"]):
    group = Group.from_env(parallel=case["parallel"], timeout_s=120)
    spec, _, w, images, labels = case_inputs(group.world_size, case["lrn"], case["heads"], case["weights"])
    be = TorchDistributedBackend(spec, w, RunConfig(device="cpu", variant=case["variant"]), group)
    be.set_input(local_rows(images, group))
    result = {"output": be.output_to_numpy(be.forward())}
    result |= {f"grad/{k}": v for k, v in be.grads_to_numpy(be.forward_backward()).items()}
    if spec.heads:
        be.set_labels(local_rows(labels, group))
        for _ in range(int(os.environ["STEPS"])):
            be.train_step()
        result |= {f"param/{k}": v for k, v in be.params_to_numpy().items()}
    save_rank(OUT, case["id"], group.rank, result)
    be.close()
"""


def case(parallel: str, lrn: bool, heads: bool, weights: str, variant: str = "default") -> dict:
    return {"id": f"{parallel}-lrn{int(lrn)}-heads{int(heads)}-{weights}-{variant}", "parallel": parallel,
            "lrn": lrn, "heads": heads, "weights": weights, "variant": variant}


CASES = {
    2: [case(p, lrn, heads, w) for p in PARALLEL for lrn in (True, False) for heads in (False, True)
        for w in ("canonical", "other")],
    1: [case(p, True, True, w) for p in PARALLEL for w in ("canonical", "other")],
}
# compile (without heads: see test_unsupported_combinations_fail_before_joining_a_group); tuned (LRN as a 1x1
# convolution, channels_last, the forward compiled)
VARIANTS = [case("dp", True, False, "other", "compile"), case("dp", True, True, "other", "tuned"),
            case("hybrid", True, True, "other", "tuned")]


@functools.cache
def expected(world_size: int, lrn: bool, heads: bool, weights: str) -> tuple[np.ndarray, Reference, Reference | None]:
    """The reference's output on the global batch, its gradients (of the mean over ranks: the global sum / N) and,
    with heads, its parameters after the training steps, as harness.analysis.parity judges them."""
    _, spec, w, images, labels = case_inputs(world_size, lrn, heads, weights)
    trial = Trial(w, images, labels)
    train = Reference(spec, trial, train=True, workers=world_size) if heads else None
    return reference.forward(spec, w, images), Reference(spec, trial, False, world_size), train


def run(out, world_size: int, cases: list[dict]):
    ranks = run_ranks(PARITY, world_size, out, timeout=900,
                      env={"CASES": json.dumps(cases), "STEPS": str(TRAIN_STEPS)})
    for r in ranks:
        assert r.returncode == 0, r.output[-3000:]
    return out


@pytest.fixture(scope="module")
def parity_runs(tmp_path_factory):
    """Each world size's cases, run once (lazily) for all its tests; their dumps are deleted after the last."""
    root = tmp_path_factory.mktemp("torch-parity")

    def runs(world_size: int):
        (root / str(world_size)).mkdir()
        return run(root / str(world_size), world_size, CASES[world_size])

    yield functools.cache(runs)
    shutil.rmtree(root)


def check_parity(out, world_size: int, c: dict) -> None:
    """Every rank against the reference; every rank's gradients and parameters bit for bit the same."""
    ref_out, grads, params = expected(world_size, c["lrn"], c["heads"], c["weights"])
    ranks = load_ranks(out, c["id"], world_size)
    for rank, got in enumerate(ranks):
        group = Group(rank, world_size, rank, world_size, "127.0.0.1", 1)
        assert relative_error(got["output"], local_rows(ref_out, group)) <= TOLERANCE, rank
    holds(grads, {k: v for k, v in ranks[0].items() if k.startswith("grad/")}, TOLERANCE)
    if params is not None:
        holds(params, {k: v for k, v in ranks[0].items() if k.startswith("param/")}, TRAIN_TOLERANCE)
    assert differing(ranks) == []


# dp, canonical weights, LRN and heads on, 2 ranks: at the second training step one pool2 window's two largest
# inputs are 7.8e-8 apart (relative, in float64), below float32's resolution; dp's ranks send its gradient to the
# other one, and conv1's weights end 4.5e-4 off. ``holds`` finds that window and proves it.
@pytest.mark.parametrize("world_size, c", [(n, c) for n in (2, 1) for c in CASES[n]],
                         ids=lambda v: v["id"] if isinstance(v, dict) else f"n{v}")
def test_parity_with_the_reference_on_the_global_batch(parity_runs, world_size, c):
    check_parity(parity_runs(world_size), world_size, c)


def test_variants_keep_parity(tmp_path):
    out = run(tmp_path, 2, VARIANTS)
    for c in VARIANTS:
        check_parity(out, 2, c)


@pytest.mark.parametrize("parallel, config, reason", [
    ("dp", {"variant": "compile"}, "zero gradients"), ("hybrid", {"precision": "fp16"}, "GradScaler")])
def test_unsupported_combinations_fail_before_joining_a_group(parallel, config, reason):
    from frameworks.base import RunConfig, Unsupported
    from frameworks.torch_distributed import TorchDistributedBackend

    spec, _, w, _, _ = case_inputs(1)
    with pytest.raises(Unsupported, match=reason):  # a rank alone would wait for the others
        TorchDistributedBackend(spec, w, RunConfig(device="cpu", **config), Group(0, 2, 0, 2, "127.0.0.1", 1, parallel))


# collectives: torch's flight recorder (on gloo too) lists every collective the process group ran, with its sizes
COLLECTIVES = "import os; os.environ['TORCH_FR_BUFFER_SIZE'] = '4000'\n" + PROLOGUE + """
import torch
from tests.test_torch_distributed import MODES

def recorded(step):
    '''(kind, bytes of the whole tensor) of each collective ``step`` ran.'''
    trace = lambda: json.loads(torch._C._distributed_c10d._dump_fr_trace_json())["entries"]
    before = len(trace())
    step()
    kinds = []
    for e in trace()[before:]:
        assert e["input_dtypes"] == ["Float"], e
        kind = e["profiling_name"].removeprefix("gloo:")
        # an all-gather's result is N inputs (its recorded output size is one input's for DTensor's all-gathers)
        copies = group.world_size if kind == "all_gather" else 1
        kinds.append((kind, copies * 4 * int(np.prod(e["input_sizes"][0]))))
    return kinds

group = Group.from_env(parallel=os.environ["PARALLEL"], timeout_s=60)
spec, _, w, images, labels = case_inputs(group.world_size)
be = TorchDistributedBackend(spec, w, RunConfig(device="cpu"), group)  # joins the group itself
be.set_input(local_rows(images, group))
be.set_labels(local_rows(labels, group))
listed = lambda mode: [(c.kind, c.nbytes) for c in be.collectives(mode)]
result = {"before_first_step": listed("train_step")}
be.train_step()  # DDP's first step reduces every gradient in one bucket,
be.train_step()  # then it rebuilds its buckets and sends their layout from rank 0
result |= {"listed": {m: listed(m) for m in MODES}, "ran": {m: recorded(getattr(be, m)) for m in MODES},
           "comm_step": {m: recorded(be.comm_step(m)) for m in MODES},
           "gathered": be.gather_floats([group.rank + 0.5, -group.rank]), "memory": be.memory_bytes(),
           "comm_backend": be.comm_backend()}
json.dump(result, open(f"{OUT}/rank{group.rank}.json", "w"))
be.close()
"""


@pytest.mark.parametrize("parallel", PARALLEL)
def test_collectives_are_those_a_step_runs(tmp_path, parallel):
    ranks = run_ranks(COLLECTIVES, 2, timeout=300, out=tmp_path,
                      env={"PARALLEL": parallel})
    assert [r.returncode for r in ranks] == [0, 0], ranks[0].output[-3000:] + ranks[1].output[-3000:]
    spec = case_inputs(2)[0]
    shapes = spec.parameter_shapes()
    params = {k: int(np.prod(s)) for k, s in shapes.items()}
    conv = sum(n for k, n in params.items() if k.startswith("conv"))
    rows = 2 * BATCH
    for rank in range(2):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for mode in MODES:
            assert got["ran"][mode] == got["listed"][mode], (mode, got["ran"][mode])
            assert got["comm_step"][mode] == got["listed"][mode], mode
        assert got["listed"]["forward_backward"] == got["listed"]["train_step"]
        assert sum(n for _, n in got["before_first_step"]) == sum(n for _, n in got["listed"]["train_step"])
        if parallel == "dp":
            assert got["listed"]["forward"] == []
            buckets = got["listed"]["train_step"]
            assert len(buckets) > 1 and sum(n for _, n in buckets) == 4 * sum(params.values())  # every gradient
            held = sum(params.values())
        else:
            # gloo has no reduce-scatter: it all-reduces the whole tensor (fc7's partial sums, pool5's gradient)
            heads = [["all_gather", rows * spec.pool5_features * 4], ["all_reduce", rows * FCS[1][1] * 4],
                     ["all_reduce", rows * FCS[2][1] * 4]]
            backward = [["all_gather", rows * FCS[1][1] * 4], ["all_reduce", rows * spec.pool5_features * 4]]
            assert got["listed"]["forward"] == heads
            assert got["listed"]["train_step"][:5] == heads + backward
            buckets = got["listed"]["train_step"][5:]
            assert sum(n for _, n in buckets) == 4 * conv  # only the convolutions' gradients
            whole = {"fc7/biases", "fc8/biases"}  # RowwiseParallel keeps them whole on every rank
            held = conv + sum(n if k in whole else n // 2 for k, n in params.items() if k.startswith("fc"))
        assert {kind for kind, _ in buckets} == {"all_reduce"}
        assert got["memory"] == {"param_bytes": 4 * held, "optimizer_bytes": 4 * held}
        assert got["gathered"] == [[0.5, 0.0], [1.5, -1.0]]
        assert got["comm_backend"] == "gloo"


# failures: rank 1 dies in the middle of a step, or goes silent; rank 0 must fail within the group's timeout
FAILURE = PROLOGUE + """
group = Group.from_env(parallel=os.environ["PARALLEL"], timeout_s=float(os.environ["TIMEOUT_S"]))
spec, _, w, images, labels = case_inputs(group.world_size)
how = os.environ["HOW"]
if how == "never_joins" and group.rank == 1:
    os._exit(0)
start = time.monotonic()
try:
    be = TorchDistributedBackend(spec, w, RunConfig(device="cpu"), group)
    be.set_input(local_rows(images, group))
    be.forward_backward()  # a whole step: every rank is in
    if group.rank == 1:
        if how == "dies":  # as conv1's gradient is ready: the heads' collectives and DDP's first bucket are done
            be.params["conv1/weights"].register_hook(lambda grad: os._exit(0))
        elif how == "silent":
            time.sleep(600)
    start = time.monotonic()
    be.forward_backward()
except Exception as e:
    json.dump({"error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - start},
              open(f"{OUT}/rank{group.rank}.json", "w"))
    raise
"""


@pytest.mark.parametrize("parallel, how", [
    ("dp", "dies"), ("hybrid", "dies"), ("dp", "silent"), ("hybrid", "never_joins")])
def test_a_rank_that_dies_or_goes_silent_fails_the_others_within_the_timeout(tmp_path, parallel, how):
    timeout_s = 20
    ranks = run_ranks(FAILURE, 2, timeout=180, out=tmp_path,
                      env={"PARALLEL": parallel, "TIMEOUT_S": str(timeout_s), "HOW": how})
    assert ranks[0].returncode not in (None, 0), ranks[0].output[-3000:]  # it failed by itself, and did not hang
    failure = json.loads((tmp_path / "rank0.json").read_text())
    assert failure["seconds"] < timeout_s + 5, failure
    if how == "silent":  # nothing tells rank 0 but the clock
        assert failure["seconds"] > timeout_s / 2 and "Timed out" in failure["error"], failure
