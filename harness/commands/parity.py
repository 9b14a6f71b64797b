"""``alexbench parity``: every installed backend against the float64 NumPy reference."""

from __future__ import annotations

from pathlib import Path

import frameworks
from frameworks.spec import ModelSpec
from frameworks.weights import (
    WeightsError,
    canonical_weights,
    load_images,
    load_labels,
    load_weights,
    random_images,
)
from harness.analysis import parity
from harness.core.errors import UserError
from harness.present import terminal, views

from .options import (
    MODEL_OPTIONS,
    OPTIONS,
    PARITY_PARALLEL,
    PARITY_PRECISION,
    PARITY_TF32,
    PARITY_TIMEOUT,
    PARITY_WORKERS,
    Checks,
)
from .plan import readable, variants_of


def model_spec(args, checks: Checks) -> ModelSpec | None:
    """The model the flags describe (None, with the problem noted, when a size is wrong)."""
    batch = checks.value(MODEL_OPTIONS["batch_size"], args.batch_size)
    size = checks.value(MODEL_OPTIONS["image_size"], args.image_size)
    if batch is None or size is None:
        return None
    return ModelSpec(batch, size, args.lrn == "on", args.heads)


def installed(names: list[str], what: str) -> list[str]:
    """The installed ones of ``names``; a line for each missing one; a UserError when none is."""
    present = [fw for fw in names if frameworks.missing_message(fw) is None]
    for fw in names:
        if fw not in present:
            print(frameworks.missing_message(fw))
    if not present:
        raise UserError(f"no framework to {what} is installed")
    return present


def cmd_parity(args) -> int:
    checks = Checks()
    fws = checks.value(OPTIONS["frameworks"], args.frameworks)
    wanted = checks.value(OPTIONS["variant"], args.variant)
    timeout = checks.value(PARITY_TIMEOUT, args.timeout)
    workers = checks.value(PARITY_WORKERS, args.workers)
    parallel = checks.value(PARITY_PARALLEL, args.parallel)
    precision = checks.value(PARITY_PRECISION, args.precision)
    tf32 = checks.value(PARITY_TF32, args.tf32) == "on"
    if parallel and not workers:
        checks.problems.append("--parallel needs --workers")
    args.heads = args.heads or args.train or parallel == "hybrid"
    spec = model_spec(args, checks)
    readable(checks, "--weights", args.weights)
    readable(checks, "--images", args.images)
    readable(checks, "--labels", args.labels)
    if args.labels and not args.train:
        checks.problems.append("--labels are the training labels: give --train with them")
    if args.dump and Path(args.dump).exists() and not Path(args.dump).is_dir():
        checks.problems.append(f"--dump {args.dump} is not a folder")
    variants = variants_of(fws, wanted, checks) if wanted else {}
    checks.done()
    whole = ModelSpec(spec.batch_size * (workers or 1), spec.image_size, spec.lrn, spec.heads)  # every rank's rows
    try:
        weights = load_weights(args.weights, spec) if args.weights else canonical_weights(spec)
        images = load_images(args.images, whole) if args.images else random_images(whole)
        labels = load_labels(args.labels, whole) if args.labels else None
    except WeightsError as e:
        raise UserError(str(e)) from None
    present = installed(fws, "check")
    dump = None
    if args.dump:
        dump = Path(args.dump)
        dump.mkdir(parents=True, exist_ok=True)
    backends = [(fw, variant) for fw in present for variant in variants[fw]]
    placement = {"workers": workers, "parallel": parallel or "dp"} if workers else {}
    (results,) = parity.check_trials(spec, [parity.Trial(weights, images, labels)], backends, args.device, timeout,
                                     args.train, precision or "fp32", dump, tf32=tf32, **placement)
    terminal.show(views.parity_view(results))
    return 0 if all(r.passed or r.explained or r.status == "unsupported" for r in results) else 1
