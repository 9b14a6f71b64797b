"""``alexbench ab A B``: two variants built in one worker process and timed in alternating rounds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import frameworks
from harness.analysis.ab import ABResult, steps_csv
from harness.core.cases import Case
from harness.core.files import write_atomic
from harness.measure.launch import run_worker
from harness.measure.threads import worker_env
from harness.present import terminal, views

from .options import AB_OPTIONS, OPTIONS, Checks
from .parity import model_spec


def _side(checks: Checks, text: str) -> tuple[str, str] | None:
    """``framework[:variant]`` checked against the registry and what is installed."""
    fw, _, variant = text.partition(":")
    try:
        variants = frameworks.entry(fw).variants
    except frameworks.UnknownBackend as e:
        checks.problems.append(str(e))
        return None
    variant = variant or variants[0]
    if variant not in variants:
        checks.problems.append(f"{fw} has no variant {variant!r}; choose from {', '.join(variants)}")
        return None
    missing = frameworks.missing_message(fw)
    if missing:
        checks.problems.append(missing)
        return None
    return fw, variant


def _pair(checks: Checks, a: tuple[str, str] | None, b: tuple[str, str] | None) -> None:
    """Why A and B cannot share one process, if they cannot."""
    if a is None or b is None:
        return
    if a == b:
        checks.problems.append(f"A and B are both {a[0]}:{a[1]}; name two different variants")
    elif frameworks.entry(a[0]).requires != frameworks.entry(b[0]).requires:
        checks.problems.append(f"{a[0]} and {b[0]} are different frameworks, whose thread pools would meet in one "
                               "process; compare them with alexbench run and alexbench compare")
    else:
        for fw, variant in (a, b):
            if variant in frameworks.entry(fw).process_wide:
                checks.problems.append(f"{fw}:{variant} changes process-wide settings, so it cannot share a "
                                       "process with another variant")


def cmd_ab(args) -> int:
    checks = Checks()
    a, b = _side(checks, args.a), _side(checks, args.b)
    _pair(checks, a, b)
    modes = checks.value(OPTIONS["modes"], args.modes)
    spec = model_spec(args, checks)
    n = {name: checks.value(option, getattr(args, name)) for name, option in AB_OPTIONS.items()}
    csv = Path(args.csv) if args.csv else None
    if csv is not None and (csv.is_dir() or not csv.parent.is_dir() or not os.access(csv.parent, os.W_OK)):
        checks.problems.append(f"--csv {csv} cannot be written")
    checks.done()
    setting = dict(lrn=spec.lrn, heads=spec.heads, batch_size=spec.batch_size, image_size=spec.image_size,
                   device=args.device, threads=n["threads"], burn_in=n["burn_in"], steps=n["steps"])
    name_a, name_b = (f"{fw} {variant}" for fw, variant in (a, b))
    results, failures, device = [], [], args.device
    for mode in modes:
        case_a, case_b = (Case(fw, mode, variant=variant, **setting) for fw, variant in (a, b))
        job = {"kind": "ab", "case": case_a.to_dict(), "other": case_b.to_dict(), "rounds": n["rounds"]}
        result = run_worker(job, n["timeout"], worker_env(case_a.threads)).result
        if result["status"] != "ok":
            failures.append(f"{mode}: {result['status']}: {result.get('error', '')}")
            continue
        results.append(ABResult(mode, result["a"], result["b"]))
        device = result["describe"][0].get("device_name") or device
    if results:
        terminal.show(views.ab_view(f"{name_a} (A) vs {name_b} (B), one process on {device}: batch {spec.batch_size}, "
                                    f"{spec.image_size} px, LRN {'on' if spec.lrn else 'off'}, {n['rounds']} rounds "
                                    f"of {n['steps']} timed steps per mode", name_a, name_b, results))
        if csv is not None:
            write_atomic(csv, steps_csv(results, name_a, name_b))
            print(f"steps: {csv}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
    slower = args.fail_if_slower and any(r.verdict == "slower" for r in results)
    return 1 if failures or slower else 0
