"""TensorFlow's dp and hybrid backend (MultiWorkerMirroredStrategy) as N ranks on 127.0.0.1, against the float64
reference on the global batch; what it says it communicates against the graph TF traced; how it fails."""

import functools
import json
import shutil

import numpy as np
import pytest

from frameworks import reference
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images, random_labels
from harness.analysis.parity import TOLERANCE, TRAIN_STEPS, TRAIN_TOLERANCE, relative_error
from tests.ranks import differing, load_ranks, run_ranks

pytest.importorskip("tensorflow")
# every test here runs real ranks of a real framework: an end-to-end run (make test-fast leaves them out)
pytestmark = pytest.mark.slow

BATCH, SIZE = 2, 70  # per rank; 70 px: conv1's SAME padding is odd (see test_backends)


def case_weights(spec: ModelSpec, kind: str) -> dict[str, np.ndarray]:
    """The canonical weights, or ``other``: another seed, convolutions 1.5x and FCs 0.5x as large, biases N(0, 0.1)."""
    if kind == "canonical":
        return canonical_weights(spec)
    rng = np.random.default_rng(2024)
    return {k: (rng.normal(0.0, 0.1, v.shape) if k.endswith("/biases") else v * (0.5 if k.startswith("fc") else 1.5))
            .astype(np.float32) for k, v in canonical_weights(spec, seed=3).items()}


def global_batch(spec: ModelSpec, world_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of the global batch (world_size x the per-rank batch); rank r holds rows r*B..(r+1)*B-1."""
    whole = ModelSpec(spec.batch_size * world_size, spec.image_size, spec.lrn, spec.heads)
    return random_images(whole), random_labels(whole)


def case(parallel: str, lrn: bool, heads: bool, weights: str) -> dict:
    return {"name": f"{parallel}-lrn{int(lrn)}-heads{int(heads)}-{weights}", "parallel": parallel, "lrn": lrn,
            "heads": heads, "weights": weights}


# Both schemes on both weights with LRN and heads; more: LRN off, heads off (hybrid without heads is dp)
CASES_2 = ([case(p, True, True, w) for p in ("dp", "hybrid") for w in ("canonical", "other")]
           + [case("dp", False, False, "canonical")])
CASES_2_MORE = [case("dp", False, True, "canonical"), case("hybrid", False, True, "canonical"),
                case("hybrid", False, True, "other"), case("dp", True, False, "canonical"),
                case("hybrid", True, False, "other")]
CASES_1 = [case(p, True, True, w) for p in ("dp", "hybrid") for w in ("canonical", "other")]
REPORTED = ("dp-lrn1-heads1-canonical", "hybrid-lrn1-heads1-canonical")  # cases whose communication is checked

PARITY_CODE = """
import dataclasses, json, os
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
import numpy as np
from frameworks.base import RunConfig
from frameworks.distributed import Group, local_rows
from frameworks.spec import ModelSpec
from frameworks.tensorflow_distributed import TensorFlowDistributedBackend
from tests.ranks import save_rank
from tests.test_tensorflow_distributed import BATCH, REPORTED, SIZE, TRAIN_STEPS, case_weights, global_batch

out, group = os.environ["OUT"], Group.from_env(timeout_s=120)
for case in json.loads(os.environ["CASES"]):
    spec = ModelSpec(BATCH, SIZE, case["lrn"], case["heads"])
    images, labels = global_batch(spec, group.world_size)
    b = TensorFlowDistributedBackend(spec, case_weights(spec, case["weights"]), RunConfig(device="cpu", threads=1),
                                     dataclasses.replace(group, parallel=case["parallel"]))
    b.set_input(local_rows(images, group))
    result = {"output": b.output_to_numpy(b.forward())}
    result |= {f"grad/{k}": v for k, v in b.grads_to_numpy(b.forward_backward()).items()}
    if spec.heads:
        b.set_labels(local_rows(labels, group))
        for _ in range(TRAIN_STEPS):
            b.block(b.train_step())
        result |= {f"param/{k}": v for k, v in b.params_to_numpy().items()}
    save_rank(out, case["name"], group.rank, result)
    if case["name"] in REPORTED:
        modes = ("forward", "forward_backward", "train_step")
        for mode in modes:
            b.block(b.comm_step(mode)())
        report = {"said": {m: [[c.kind, c.nbytes] for c in b.collectives(m)] for m in modes},
                  "traced": {m: b.traced_collectives(m) for m in modes},
                  "comm": {m: b.traced_collectives(m, comm=True) for m in modes},
                  "floats": b.gather_floats([float(group.rank), 0.5]), "memory": b.memory_bytes(),
                  "describe": b.describe()}
        with open(f"{out}/{case['name']}-rank{group.rank}.json", "w") as f:
            json.dump(report, f)
    b.close()
"""


def run_parity(tmp_path_factory, cases: list[dict], world_size: int):
    """The ranks' dumps of ``cases``, for a module's tests; deleted after the last."""
    out = tmp_path_factory.mktemp(f"tf-world{world_size}")
    results = run_ranks(PARITY_CODE, world_size, out, timeout=900, env={"CASES": json.dumps(cases)})
    for r in results:
        assert r.returncode == 0, f"rank {r.rank}:\n{r.output[-4000:]}"
    yield out
    shutil.rmtree(out)


@pytest.fixture(scope="module")
def world2(tmp_path_factory):
    yield from run_parity(tmp_path_factory, CASES_2, 2)


@pytest.fixture(scope="module")
def world2_more(tmp_path_factory):
    yield from run_parity(tmp_path_factory, CASES_2_MORE, 2)


@pytest.fixture(scope="module")
def world1(tmp_path_factory):
    yield from run_parity(tmp_path_factory, CASES_1, 1)


@functools.cache
def expected(lrn: bool, heads: bool, weights: str, world_size: int):
    """The reference's output, gradients and trained parameters on the global batch (dp and hybrid share them)."""
    spec = ModelSpec(BATCH, SIZE, lrn, heads)
    whole = ModelSpec(BATCH * world_size, SIZE, lrn, heads)
    w, (images, labels) = case_weights(spec, weights), global_batch(spec, world_size)
    out, grads = reference.forward_backward(whole, w, images)
    return out, grads, reference.train(whole, w, images, labels, TRAIN_STEPS) if heads else {}


def check_parity(out, c: dict, world_size: int) -> None:
    """Every rank's output rows and rank 0's gradients and parameters against the reference on the global batch;
    every rank's gradients and parameters bit for bit rank 0's."""
    expected_out, expected_grads, expected_params = expected(c["lrn"], c["heads"], c["weights"], world_size)
    ranks = load_ranks(out, c["name"], world_size)
    for r, got in enumerate(ranks):
        assert relative_error(got["output"], expected_out[r * BATCH:(r + 1) * BATCH]) <= TOLERANCE, r
    got = ranks[0]
    errors = {f"grad/{k}": relative_error(got[f"grad/{k}"], g / world_size) for k, g in expected_grads.items()}
    assert max(errors.values()) <= TOLERANCE, errors
    train_errors = {k: relative_error(got[f"param/{k}"], p) for k, p in expected_params.items()}
    assert max(train_errors.values(), default=0.0) <= TRAIN_TOLERANCE, train_errors
    assert differing(ranks) == []


@pytest.mark.parametrize("c", CASES_2, ids=lambda c: c["name"])
def test_parity_at_world_size_2(world2, c):
    check_parity(world2, c, 2)


@pytest.mark.parametrize("c", CASES_2_MORE, ids=lambda c: c["name"])
def test_more_parity_at_world_size_2(world2_more, c):
    check_parity(world2_more, c, 2)


@pytest.mark.parametrize("c", CASES_1, ids=lambda c: c["name"])
def test_parity_at_world_size_1(world1, c):
    check_parity(world1, c, 1)


KINDS = {"CollectiveReduceV2": "all_reduce", "CollectiveGatherV2": "all_gather"}


@pytest.mark.parametrize("name", REPORTED)
def test_collectives_are_what_tensorflow_traced(world2, name):
    """The collectives a backend reports, the ops in its traced steps and in its comm_step's graph agree, in order;
    where a shape is static, in size too."""
    report = json.loads((world2 / f"{name}-rank0.json").read_text())
    for mode, said in report["said"].items():
        traced = report["traced"][mode]
        assert [KINDS[op] for op, _, _ in traced] == [kind for kind, _ in said], mode
        assert report["comm"][mode] == traced, mode
        for (kind, nbytes), (_, shape, dtype) in zip(said, traced, strict=True):
            if shape is not None:
                size = int(np.prod(shape)) * np.dtype(dtype).itemsize
                assert nbytes == (size if kind == "all_reduce" else 2 * size), (mode, kind, shape)
    spec = ModelSpec(BATCH, SIZE, True, True)
    shapes = spec.parameter_shapes()
    conv = 4 * sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith("conv"))
    total = 4 * sum(int(np.prod(s)) for s in shapes.values())
    said = report["said"]
    assert said["train_step"] == said["forward_backward"]
    reduced = sum(n for kind, n in said["forward_backward"] if kind == "all_reduce")
    if name.startswith("dp"):
        assert said["forward"] == []
        assert said["forward_backward"] == [["all_reduce", total]]  # one batched all-reduce of every gradient
        assert report["memory"]["param_bytes"] == total
    else:  # conv gradients, plus the gathered activations' gradients: N x B rows of pool5, fc6, fc7, fc8
        activations = 4 * 2 * BATCH * (spec.pool5_features + 4096 + 4096 + 1000)
        assert reduced == conv + activations
        assert report["memory"]["param_bytes"] == conv + (total - conv) // 2
    assert report["memory"]["optimizer_bytes"] >= report["memory"]["param_bytes"]  # momentum for each parameter
    assert report["floats"] == [[0.0, 0.5], [1.0, 0.5]]
    assert report["describe"]["comm_backend"] == "RING" and report["describe"]["world_size"] == 2


FAILURE_CODE = """
import json, os, socket, time
os.sched_setaffinity(0, {int(os.environ["ALEXBENCH_CORE"])})
from frameworks.base import RunConfig
from frameworks.distributed import Group
from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights, random_images

scenario, group = os.environ["SCENARIO"], Group.from_env(timeout_s=float(os.environ["GROUP_TIMEOUT"]))
if scenario == "never" and group.rank == 1:
    time.sleep(3600)
if scenario == "busy_port":  # hold this rank's own TF_CONFIG port
    holder = socket.socket()
    holder.bind(("127.0.0.1", int(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"][group.rank].split(":")[1])))
    holder.listen()
if scenario == "op_first":
    import tensorflow as tf
    tf.constant(1.0) + 1.0
from frameworks.tensorflow_distributed import TensorFlowDistributedBackend

spec = ModelSpec(2, 70, False, False)
start = time.monotonic()
try:
    b = TensorFlowDistributedBackend(spec, canonical_weights(spec), RunConfig(device="cpu", threads=1), group)
    b.set_input(random_images(spec))
    b.block(b.forward_backward())
    if group.rank == 1 and scenario == "exit":
        os._exit(0)  # gone between two steps, as if it crashed: no error of its own for run_ranks to see
    if group.rank == 1 and scenario == "stall":
        time.sleep(3600)
    start = time.monotonic()
    b.block(b.forward_backward())
    outcome = {"error": None}
except Exception as e:
    outcome = {"error": type(e).__name__, "message": str(e)}
outcome["seconds"] = time.monotonic() - start
with open(f"{os.environ['OUT']}/rank{group.rank}.json", "w") as f:
    json.dump(outcome, f)
os._exit(3)  # ends run_ranks at once: it kills the ranks still waiting
"""


def run_failure(tmp_path, scenario: str, world_size: int, group_timeout: float) -> dict:
    results = run_ranks(FAILURE_CODE, world_size, tmp_path, timeout=240,
                        env={"SCENARIO": scenario, "GROUP_TIMEOUT": str(group_timeout)})
    assert results[0].returncode == 3, results[0].output[-4000:]
    return json.loads((tmp_path / "rank0.json").read_text())


def test_a_rank_that_exits_between_steps_fails_the_other_at_once(tmp_path):
    outcome = run_failure(tmp_path, "exit", 2, group_timeout=60)
    assert outcome["error"] == "UnavailableError", outcome  # its connection is reset: no need to wait
    assert outcome["seconds"] < 30, outcome


def test_a_rank_that_stalls_fails_the_other_within_the_timeout(tmp_path):
    outcome = run_failure(tmp_path, "stall", 2, group_timeout=10)
    assert outcome["error"] == "DeadlineExceededError" and "timed out" in outcome["message"], outcome
    assert 9 < outcome["seconds"] < 12, outcome  # a collective times out after timeout_s


def test_a_rank_that_never_starts_fails_the_other_within_the_timeout(tmp_path):
    outcome = run_failure(tmp_path, "never", 2, group_timeout=20)
    assert outcome["error"] == "ClusterError" and "not every worker" in outcome["message"], outcome
    assert outcome["seconds"] < 20, outcome


@pytest.mark.parametrize("scenario, message", [("busy_port", "cannot listen on port"),
                                               ("op_first", "before any other TensorFlow op")])
def test_joining_fails_clearly(tmp_path, scenario, message):
    outcome = run_failure(tmp_path, scenario, 1, group_timeout=30)
    assert outcome["error"] == "ClusterError" and message in outcome["message"], outcome
