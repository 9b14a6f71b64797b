"""``alexbench parity``: every installed backend, each in its own process, against the
float64 NumPy reference, on the same weights and batch."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frameworks import reference
from frameworks.spec import ModelSpec
from frameworks.weights import random_labels, save_weights
from harness.core.cases import Case
from harness.measure.launch import run_worker
from harness.measure.threads import worker_env

TOLERANCE = 1e-5  # float32 on CPU, TF32 off
# train_step: the parameters after TRAIN_STEPS SGD steps. With the seed's init (sd 0.1) the logits
# are in the thousands and the updates huge, so float32 rounding grows fast: measured 3e-6..7.5e-6
# after 2 steps, 3e-4..8e-4 after 3, and the run diverges to inf at step 4 (in float64 too).
TRAIN_STEPS, TRAIN_TOLERANCE = 2, 2e-5


@dataclass
class ParityResult:
    """Relative errors per framework and tensor (empty when the framework failed)."""

    framework: str
    status: str
    errors: dict[str, float]
    message: str = ""

    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        return self.status == "ok" and all(e <= self.tolerance for e in self.errors.values())


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| in float64 (0 when both are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    denom = np.linalg.norm(b)
    diff = np.linalg.norm(a - b)
    return float(diff / denom) if denom else float(diff)


def check(spec: ModelSpec, weights: dict, images: np.ndarray, frameworks: list[str], device: str,
          timeout: float, dump: Path | None = None, train: bool = False,
          precision: str = "fp32", variant: str = "default") -> list[ParityResult]:
    """Run each framework's forward and gradients (or, with ``train``, TRAIN_STEPS training
    steps on the fixed labels) in a worker, in ``precision``, and compare with the reference."""
    if train:
        params = reference.train(spec, weights, images, random_labels(spec), TRAIN_STEPS)
        expected = {f"param/{k}": v for k, v in params.items()}
        mode, tolerance = "train_step", TRAIN_TOLERANCE
    else:
        out_ref, grads_ref = reference.forward_backward(spec, weights, images)
        expected = {"output": out_ref} | {f"grad/{k}": v for k, v in grads_ref.items()}
        mode, tolerance = "forward_backward", TOLERANCE
    results = []
    with tempfile.TemporaryDirectory(prefix="alexbench-parity-") as tmp:
        weights_path, images_path = Path(tmp) / "weights.npz", Path(tmp) / "images.npy"
        save_weights(weights, str(weights_path))
        np.save(images_path, images)
        for fw in frameworks:
            case = Case(fw, mode, spec.lrn, spec.heads, spec.batch_size, spec.image_size, variant, precision,
                        device=device, steps=TRAIN_STEPS)
            dump_path = Path(tmp) / f"{fw}.npz"
            job = {"kind": "parity", "case": case.to_dict(), "weights": str(weights_path),
                   "images": str(images_path), "dump": str(dump_path)}
            outcome = run_worker(job, timeout, worker_env(case.threads))
            if outcome.result["status"] != "ok":
                results.append(ParityResult(fw, outcome.result["status"], {}, outcome.result.get("error", ""),
                                            tolerance))
                continue
            with np.load(dump_path) as got:
                errors = {k: relative_error(got[k], v) if k in got.files else float("inf")
                          for k, v in expected.items()}
            results.append(ParityResult(fw, "ok", errors, tolerance=tolerance))
            if dump is not None:
                shutil.copyfile(dump_path, dump / f"{fw}.npz")
    return results
