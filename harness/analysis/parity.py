"""``alexbench parity``: every installed backend, each in its own process, against the float64 NumPy
reference, on the same weights and batch.

A backend computes the same function as the reference when its output and gradients (or its parameters after
two training steps) agree within float32's tolerance. Where they do not, the cause may be the data rather than
the backend: at a ReLU whose input is within float32's rounding of 0, or a max-pool window whose two largest
values are that close, float32 and float64 can take different branches, and a gradient row follows the other
branch. ``explain`` finds such decisions and proves the case: with them taken the other way, the float64
reference agrees with the backend within the tolerance. Data without such decisions is never excused.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import frameworks
from frameworks import reference
from frameworks.spec import ModelSpec
from frameworks.weights import random_labels, save_weights
from harness.core.cases import Case
from harness.measure.ranks import run_job

TOLERANCE = 1e-5  # float32 on CPU, TF32 off
# train_step: the parameters after TRAIN_STEPS SGD steps. With the seed's init (sd 0.1) the logits
# are in the thousands and the updates huge, so float32 rounding grows fast: measured 3e-6..7.5e-6
# after 2 steps, 3e-4..8e-4 after 3, and the run diverges to inf at step 4 (in float64 too).
TRAIN_STEPS, TRAIN_TOLERANCE = 2, 2e-5
# A branch decision this close, relative to its layer's scale, may go either way in float32 (whose outputs agree
# with float64's to about 1e-6 relative): the candidates ``explain`` tries, closest first, at most MAX_FLIPS.
CANDIDATE_MARGIN, MAX_FLIPS = 1e-4, 8
SAMPLE = 100_000  # entries of each failing tensor the search for an explanation looks at (the proof: all)


@dataclass(frozen=True)
class Flip:
    """A branch decision taken the other way: at training step ``step``, ``layer``'s ReLU or max-pool at flat
    output position ``position``, whose float64 decision had ``margin`` (relative to the layer's scale)."""

    layer: str
    position: int
    margin: float
    step: int = 0


@dataclass
class ParityResult:
    """Relative errors per tensor of one backend (empty when it failed to run) and, where they exceed the
    tolerance, the branch decisions that explain them (with the errors left once they are taken)."""

    framework: str
    status: str
    errors: dict[str, float]
    message: str = ""
    tolerance: float = TOLERANCE
    variant: str = "default"
    flips: list[Flip] = field(default_factory=list)
    explained_errors: dict[str, float] = field(default_factory=dict)
    measured: str = ""  # bf16, fp16 or TF32: errors measured against float64, float32's tolerance not theirs

    @property
    def passed(self) -> bool:
        return self.status == "ok" and all(e <= self.tolerance for e in self.errors.values())

    @property
    def explained(self) -> bool:
        """Not within the tolerance, but only where float32 took the other branch at ``flips``."""
        return (not self.passed and self.status == "ok" and bool(self.flips)
                and all(e <= self.tolerance for e in self.explained_errors.values()))

    @property
    def name(self) -> str:
        """``torch``, or ``torch tuned`` for a variant other than the framework's default."""
        return self.framework if _is_default(self.framework, self.variant) else f"{self.framework} {self.variant}"


@dataclass
class Trial:
    """The data of one check: weights, an NHWC batch, and for training its labels (None: the fixed ones)."""

    weights: dict[str, np.ndarray]
    images: np.ndarray
    labels: np.ndarray | None = None


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| in float64 (0 when both are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    denom = np.linalg.norm(b)
    diff = np.linalg.norm(a - b)
    return float(diff / denom) if denom else float(diff)


class Reference:
    """The float64 reference of a check, and the same with chosen branch decisions taken the other way. With
    ``workers`` ranks sharing ``spec``'s batch, what rank 0 dumps: its rows' output, the gradients of the mean over
    ranks of each rank's loss (the whole batch's over ``workers``)."""

    def __init__(self, spec: ModelSpec, trial: Trial, train: bool, workers: int = 1):
        self.spec, self.trial, self.train, self.workers = spec, trial, train, workers
        self.labels = trial.labels if trial.labels is not None else random_labels(spec)
        self.branches = self._branches([])
        self.expected = self._tensors(self.branches)

    def _branches(self, flips: list[Flip]) -> list[reference.Branches]:
        """One per forward pass (training: one per step), with ``flips`` to take."""
        branches = [reference.Branches() for _ in range(TRAIN_STEPS if self.train else 1)]
        for f in flips:
            branches[f.step].flips.setdefault(f.layer, []).append(f.position)
        return branches

    def tensors(self, flips: list[Flip]) -> dict[str, np.ndarray]:
        """What the backend's dump holds, computed in float64 with ``flips`` taken the other way."""
        return self._tensors(self._branches(flips))

    def _tensors(self, branches: list[reference.Branches]) -> dict[str, np.ndarray]:
        w, x = self.trial.weights, self.trial.images
        if self.train:
            params = reference.train(self.spec, w, x, self.labels, TRAIN_STEPS, branches=branches)
            return {f"param/{k}": v for k, v in params.items()}
        out, grads = reference.forward_backward(self.spec, w, x, branches[0])
        rows = len(out) // self.workers
        return {"output": out[:rows]} | {f"grad/{k}": v / self.workers for k, v in grads.items()}

    def candidates(self) -> list[Flip]:
        """The closest decisions of every ReLU and max-pool (within CANDIDATE_MARGIN), closest first."""
        flips = [Flip(layer, int(p), float(m[p]), step)
                 for step, b in enumerate(self.branches) for layer, m in b.margins.items()
                 for p in np.flatnonzero(m < CANDIDATE_MARGIN)]
        return sorted(flips, key=lambda f: f.margin)[:MAX_FLIPS]


def errors_against(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: relative_error(got[k], v) if k in got else float("inf") for k, v in expected.items()}


def explain(ref: Reference, got: dict[str, np.ndarray], tolerance: float) -> tuple[list[Flip], dict[str, float]]:
    """Branch decisions that, taken the other way, bring the reference within ``tolerance`` of ``got``, and the
    errors then; ([], {}) when none do. The search looks at a sample of every tensor and adds one decision
    at a time while that helps; the answer is then checked on every entry of every tensor."""
    errors = errors_against(got, ref.expected)
    candidates = ref.candidates()
    if not any(tolerance < e < float("inf") for e in errors.values()) or not candidates:
        return [], {}
    # every comparable tensor, so that a decision which would break a passing tensor is never chosen
    sampled = [k for k, e in errors.items() if e < float("inf")]
    rng = np.random.default_rng(0)
    index = {k: rng.choice(ref.expected[k].size, min(SAMPLE, ref.expected[k].size), replace=False) for k in sampled}
    scale = {k: np.linalg.norm(ref.expected[k]) or 1.0 for k in sampled}

    def sample(tensors: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(tensors[k])[index[k]] / scale[k] for k in sampled])

    base = sample(ref.expected)
    residual = sample(got) - base
    moves = [sample(ref.tensors([c])) - base for c in candidates]
    chosen: list[int] = []
    while True:
        now = np.linalg.norm(residual)
        gains = [np.linalg.norm(residual - m) if i not in chosen else now for i, m in enumerate(moves)]
        best = int(np.argmin(gains))
        if gains[best] >= now:
            break
        chosen.append(best)
        residual = residual - moves[best]
    if not chosen:
        return [], {}
    flips = [candidates[i] for i in chosen]
    return flips, errors_against(got, ref.tensors(flips))


def judge(ref: Reference, got: dict[str, np.ndarray], tolerance: float, framework: str = "", variant: str = "default",
          measured: str = "") -> ParityResult:
    """A backend's tensors against the reference: their errors and, over ``tolerance`` in float32, the branch
    decisions of the data that explain them (if any do)."""
    result = ParityResult(framework, "ok", errors_against(got, ref.expected), tolerance=tolerance, variant=variant,
                          measured=measured)
    if not result.passed and not measured:
        result.flips, result.explained_errors = explain(ref, got, tolerance)
    return result


def _is_default(framework: str, variant: str) -> bool:
    """``default``, or the first (and default) variant of a framework that names it otherwise (tf1-seed's
    ``session``)."""
    entry = frameworks.REGISTRY.get(framework)
    return variant == "default" or (entry is not None and variant == entry.variants[0])


def dump_name(framework: str, variant: str) -> str:
    """``torch.npz`` for a framework's default variant, ``torch-tuned.npz`` for another."""
    return f"{framework}.npz" if _is_default(framework, variant) else f"{framework}-{variant}.npz"


def check_trials(spec: ModelSpec, trials: list[Trial], backends: list[tuple[str, str]], device: str, timeout: float,
                 train: bool = False, precision: str = "fp32", dump: Path | None = None, workers: int = 1,
                 parallel: str = "none", tf32: bool = False) -> list[list[ParityResult]]:
    """Per trial, a result per (framework, variant) of ``backends``: its forward and gradients (or, with ``train``,
    TRAIN_STEPS training steps) in ``precision`` (TF32 off on GPU unless ``tf32``), against the reference. One
    worker per backend runs every trial; with ``parallel`` (dp or hybrid) ``workers`` ranks run each trial, each on
    its rows of the trial's batch (``spec.batch_size`` per rank). ``dump``: a folder for the first trial's dumps
    (``dump_name``)."""
    mode, tolerance = ("train_step", TRAIN_TOLERANCE) if train else ("forward_backward", TOLERANCE)
    measured = " and ".join(m for m in (precision if precision != "fp32" else "", "TF32" if tf32 else "") if m)
    whole = ModelSpec(spec.batch_size * workers, spec.image_size, spec.lrn, spec.heads)
    references = [Reference(whole, trial, train, workers) for trial in trials]
    results: list[list[ParityResult]] = [[] for _ in trials]
    with tempfile.TemporaryDirectory(prefix="alexbench-parity-") as tmp:
        files = []
        for i, trial in enumerate(trials):
            paths = {"weights": Path(tmp) / f"w{i}.npz", "images": Path(tmp) / f"x{i}.npy",
                     "labels": Path(tmp) / f"y{i}.npy"}
            save_weights(trial.weights, str(paths["weights"]))
            np.save(paths["images"], trial.images)
            np.save(paths["labels"], references[i].labels)
            files.append({k: str(v) for k, v in paths.items()})
        for fw, variant in backends:
            case = Case(fw, mode, spec.lrn, spec.heads, spec.batch_size, spec.image_size, variant, precision,
                        tf32=tf32, device=device, steps=TRAIN_STEPS, workers=workers, parallel=parallel)
            jobs = [f | {"dump": str(Path(tmp) / f"{fw}-{variant}-{i}.npz")} for i, f in enumerate(files)]
            # a group is joined once per process (jax.distributed, a tf.distribute strategy): a trial per launch
            batches = [[j] for j in jobs] if case.distributed else [jobs]
            outcomes = [run_job({"kind": "parity", "case": case.to_dict(), "trials": batch}, case, timeout)
                        for batch in batches]
            for i, job in enumerate(jobs):
                outcome = outcomes[i if case.distributed else 0]
                if outcome.result["status"] != "ok":
                    results[i].append(ParityResult(fw, outcome.result["status"], {}, outcome.result.get("error", ""),
                                                   tolerance, variant))
                    continue
                with np.load(job["dump"]) as loaded:
                    got = {k: loaded[k] for k in loaded.files}
                results[i].append(judge(references[i], got, tolerance, fw, variant, measured))
                if dump is not None and i == 0:
                    shutil.copyfile(job["dump"], dump / dump_name(fw, variant))
    return results


def check(spec: ModelSpec, weights: dict, images: np.ndarray, frameworks: list[str], device: str,
          timeout: float, dump: Path | None = None, train: bool = False,
          precision: str = "fp32", variant: str = "default", labels: np.ndarray | None = None) -> list[ParityResult]:
    """One trial: each framework's ``variant`` against the reference (``check_trials``)."""
    (results,) = check_trials(spec, [Trial(weights, images, labels)], [(fw, variant) for fw in frameworks], device,
                              timeout, train, precision, dump)
    return results
