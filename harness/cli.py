"""The ``alexbench`` command: run, parity, layers, peak, ab, targets, env, report, compare."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import frameworks
from frameworks.base import LAYOUTS, PRECISIONS
from frameworks.spec import MIN_IMAGE_SIZE, ModelSpec, activation_listing, format_layer_table
from frameworks.weights import WeightsError, canonical_weights, load_images, load_weights, random_images

from . import display, envinfo
from .cases import DEFAULT_MODES, MODES, Case
from .config import load_config
from .errors import UserError
from .layers import total_steps
from .runfolder import LABEL_RE, RunFolder
from .runner import Outcome, measure_peaks, run_case, run_worker, worker_env
from .timing import harness_overhead_s

LRN_CHOICES = {"on": (True,), "off": (False,), "both": (True, False)}
EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line and exit code 2."""

    def error(self, message: str):
        raise UserError(message)


class Checks:
    """Collects every problem of one command line, to report them together."""

    def __init__(self):
        self.problems: list[str] = []

    def integer(self, flag: str, text: str | None, minimum: int) -> int | None:
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            self.problems.append(f"{flag} must be an integer, got {text!r}")
            return None
        if value < minimum:
            self.problems.append(f"{flag} must be >= {minimum}, got {value}")
            return None
        return value

    def number(self, flag: str, text: str, minimum: float) -> float | None:
        try:
            value = float(text)
        except ValueError:
            self.problems.append(f"{flag} must be a number, got {text!r}")
            return None
        if not value >= minimum:
            self.problems.append(f"{flag} must be >= {minimum:g}, got {text}")
            return None
        return value

    def choices(self, flag: str, text: str, allowed: tuple[str, ...]) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if not items:
            self.problems.append(f"{flag} is empty; choose from {', '.join(allowed)}")
        for item in items:
            if item not in allowed:
                noun = flag.lstrip("-").rstrip("s")
                self.problems.append(f"unknown {noun} {item!r}; choose from {', '.join(allowed)}")
        return [i for i in dict.fromkeys(items) if i in allowed]

    def done(self) -> None:
        if self.problems:
            raise UserError("; ".join(self.problems))


def _model_flags(p: argparse.ArgumentParser, batch: str, lrn_choices: list[str]) -> None:
    p.add_argument("--batch-size", default=batch, metavar="N", help=f"images per batch (default {batch})")
    p.add_argument("--image-size", default="224", metavar="PX",
                   help=f"square input size, at least {MIN_IMAGE_SIZE} (default 224, as the seed)")
    p.add_argument("--lrn", default=lrn_choices[0], choices=lrn_choices,
                   help=f"local response normalization after conv1/conv2 (default {lrn_choices[0]})")
    p.add_argument("--heads", action="store_true", help="add the FC heads fc6-fc8 (off, as in the seed code)")
    p.add_argument("--device", default="auto", choices=frameworks.base.DEVICES,
                   help="auto: the GPU when the framework sees one (default); cuda without a GPU "
                        "gives status 'unavailable' per case")


def build_parser() -> Parser:
    parser = Parser(prog="alexbench", description="The seed AlexNet in TensorFlow, PyTorch and JAX, "
                    "timed by one harness. Results go to results/<run-id>/.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    names = ",".join(frameworks.NAMES)

    run = sub.add_parser("run", help="time forward, forward_backward and train_step per framework",
                         description="Time each case (framework x variant x precision x layout x batch x size "
                         "x LRN x mode) in its own process: burn-in steps, then timed steps, as the seed does. "
                         "Comma lists sweep. Defaults are the seed's protocol.")
    run.add_argument("--config", metavar="FILE.toml", help="read these flags from a TOML file (keys as the flags, "
                     "with _ for -; lists for comma lists); flags given here override it")
    run.add_argument("--frameworks", help=f"comma list (default {names})")
    run.add_argument("--modes", help=f"comma list of {', '.join(MODES)} (default {','.join(DEFAULT_MODES)}); "
                     "train_step is softmax cross-entropy + SGD with momentum, with the FC heads")
    run.add_argument("--batch-size", metavar="N[,N...]", help="images per batch (default 32)")
    run.add_argument("--image-size", metavar="PX[,PX...]",
                     help=f"square input size, at least {MIN_IMAGE_SIZE} (default 224, as the seed)")
    run.add_argument("--lrn", choices=sorted(LRN_CHOICES), help="LRN after conv1/conv2: on, off or both (default both)")
    run.add_argument("--heads", action="store_true", default=None,
                     help="add the FC heads fc6-fc8 (off, as in the seed code)")
    run.add_argument("--device", choices=frameworks.base.DEVICES,
                     help="auto: the GPU when the framework sees one (default); cuda without a GPU "
                          "gives status 'unavailable' per case")
    run.add_argument("--precision", metavar="P[,P...]", help=f"{', '.join(PRECISIONS)} (default fp32); bf16 and "
                     "fp16 are mixed precision: fp32 weights, low-precision compute")
    run.add_argument("--variant", metavar="V[,V...]", help="execution mode: default, all, or names: "
                     f"{_variant_help()} (default: each framework's first)")
    run.add_argument("--layout", metavar="L[,L...]", help="layout inside the backend: native, nhwc, nchw "
                     "(default native: NCHW for torch, NHWC for the others)")
    run.add_argument("--tf32", choices=("default", "on", "off"), help="TF32 on GPU for every framework "
                     "(default: each framework's own default); recorded per case")
    run.add_argument("--burn-in", metavar="N", help="untimed steps first; the first is "
                     "always run and kept as compile_s (default 10)")
    run.add_argument("--steps", metavar="N", help="timed steps (default 100)")
    run.add_argument("--threads", metavar="N", help="CPU cores and compute threads for "
                     "every framework alike (default: each framework's own default)")
    run.add_argument("--timeout", metavar="S", help="seconds per case (default 1800)")
    run.add_argument("--per-layer", action="store_true", default=None, help="also time each layer alone, "
                     "forward and backward, per framework and setting, into layers.csv")
    run.add_argument("--peak-seconds", metavar="S", help="first measure the machine's fp32 ceiling in each "
                     "framework, S seconds per product, for pct_of_peak (default 2; 0 skips it)")
    run.add_argument("--out", metavar="DIR", help="results root (default results/)")
    run.add_argument("--label", help="suffix of the run id (letters, digits, . _ -)")
    run.add_argument("--weights", metavar="FILE.npz", help="canonical weights to load "
                     "instead of the generated ones")
    run.add_argument("--resume", metavar="RUN_DIR", help="run only the cases missing "
                     "from an interrupted run, in its folder (other flags are ignored)")

    parity = sub.add_parser("parity", help="check every backend against the float64 NumPy reference",
                            description="Run every installed backend in its own process on the same "
                            "weights and batch; compare output and gradients with the reference.")
    parity.add_argument("--frameworks", default=names, help=f"comma list (default: installed of {names})")
    _model_flags(parity, "2", ["on", "off"])
    parity.add_argument("--weights", metavar="FILE.npz", help="use these weights (canonical names)")
    parity.add_argument("--images", metavar="FILE.npy", help="use this NHWC float32 batch")
    parity.add_argument("--dump", metavar="DIR", help="write DIR/<framework>.npz (output, grad/<name>)")
    parity.add_argument("--train", action="store_true", help="compare the parameters after 2 train_step "
                        "steps (softmax cross-entropy, SGD with momentum; turns the heads on) instead")
    parity.add_argument("--timeout", default="600", metavar="S", help="seconds per framework (default 600)")

    layers = sub.add_parser("layers", help="the layer table: shapes, parameters, FLOPs",
                            description="Print the framework-free layer table and the seed's "
                            "print_activations listing (from a backend with --framework).")
    _model_flags(layers, "32", ["on", "off"])
    layers.add_argument("--framework", choices=frameworks.NAMES, help="run this backend and list its shapes")

    peak = sub.add_parser("peak", help="the machine's fp32 ceiling: a large matmul and conv per framework",
                          description="Time a large fp32 matrix product and a conv2-shaped convolution in each "
                          "installed framework; the best median is the rate pct_of_peak refers to.")
    peak.add_argument("--frameworks", default=",".join(frameworks.NAMES[:3]), help="comma list")
    peak.add_argument("--device", default="auto", choices=frameworks.base.DEVICES)
    peak.add_argument("--threads", default=None, metavar="N", help="cores and threads for every framework")
    peak.add_argument("--seconds", default="3", metavar="S", help="seconds per product (default 3)")

    ab = sub.add_parser("ab", help="two variants in one process, in alternating rounds (drift-free A/B)",
                        description="Build A and B in one worker process and time them in rounds: a block of "
                        "steps of A, then of B, the order alternating each round, so drift between processes "
                        "cannot decide the comparison. A and B must share a framework runtime (variants of one "
                        "framework, or tensorflow and tf1-seed). Example: alexbench ab tensorflow tf1-seed")
    ab.add_argument("a", metavar="A", help="framework[:variant], e.g. tensorflow or torch:compile")
    ab.add_argument("b", metavar="B", help="framework[:variant], e.g. tf1-seed")
    ab.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma list of {', '.join(MODES)} "
                    f"(default {','.join(DEFAULT_MODES)})")
    _model_flags(ab, "32", ["on", "off"])
    ab.add_argument("--rounds", default="10", metavar="N", help="rounds per mode, at least 2; p < 0.01 needs "
                    "8 or more (default 10)")
    ab.add_argument("--steps", default="10", metavar="N", help="timed steps per block (default 10)")
    ab.add_argument("--burn-in", default="10", metavar="N", help="untimed steps of each first (default 10)")
    ab.add_argument("--threads", default=None, metavar="N", help="cores and threads for the process")
    ab.add_argument("--timeout", default="1800", metavar="S", help="seconds per mode (default 1800)")
    ab.add_argument("--fail-if-slower", action="store_true", help="exit 1 when A is slower than B at p < 0.01")
    ab.add_argument("--csv", metavar="FILE", help="also write every timed step (mode, side, variant, round, step, "
                    "seconds) to FILE")

    targets = sub.add_parser("targets", help="a run's figures against the performance targets",
                             description="Percent of peak per framework's best variant, TensorFlow against the "
                             "seed's TF1 program, the harness's own cost; exit 1 when a target is missed.")
    targets.add_argument("run_dir", nargs="?", help="run folder (default: the newest under results/)")

    sub.add_parser("env", help="print what a run records about this machine")

    report = sub.add_parser("report", help="charts and report.md for a run")
    report.add_argument("run_dir", nargs="?", help="run folder (default: the newest under results/)")

    compare = sub.add_parser("compare", help="compare two runs case by case (Mann-Whitney U)")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    compare.add_argument("--fail-above", default=None, metavar="RATIO",
                         help="exit 1 when a significant slowdown B/A exceeds RATIO (e.g. 1.10)")
    return parser


def _spec(args, checks: Checks) -> ModelSpec | None:
    batch = checks.integer("--batch-size", args.batch_size, 1)
    size = checks.integer("--image-size", args.image_size, MIN_IMAGE_SIZE)
    if batch is None or size is None:
        return None
    return ModelSpec(batch, size, args.lrn == "on", args.heads)


def _readable(checks: Checks, flag: str, path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        checks.problems.append(f"{flag} {path}: no such file")


def _writable_root(checks: Checks, root: Path) -> None:
    probe = root
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        checks.problems.append(f"--out {root} cannot be written")


RUN_DEFAULTS = {
    "frameworks": ",".join(frameworks.NAMES[:3]), "modes": ",".join(DEFAULT_MODES), "lrn": "both", "heads": False,
    "batch_size": "32", "image_size": "224", "device": "auto", "precision": "fp32", "variant": "default",
    "layout": "native", "tf32": "default", "burn_in": "10", "steps": "100", "threads": None, "timeout": "1800",
    "peak_seconds": "2", "per_layer": False,
    "out": "results", "label": None, "weights": None,
}


def _variant_help() -> str:
    return "; ".join(f"{n}: {', '.join(frameworks.entry(n).variants)}" for n in frameworks.NAMES[:3])


def run_settings(args) -> dict:
    """Defaults, then the config file, then the flags given."""
    settings = dict(RUN_DEFAULTS)
    if args.config:
        settings |= load_config(args.config)
    settings |= {k: v for k, v in vars(args).items() if k in RUN_DEFAULTS and v is not None}
    return settings


def _variants_of(fws: list[str], wanted: list[str], checks: Checks) -> dict[str, list[str]]:
    """Each framework's variants among ``wanted`` (``default``: its first; ``all``: every one)."""
    known = {v for fw in fws for v in frameworks.entry(fw).variants} | {"default", "all"}
    for v in wanted:
        if v not in known:
            checks.problems.append(f"unknown variant {v!r}; choose from default, all, {_variant_help()}")
    chosen = {}
    for fw in fws:
        own = frameworks.entry(fw).variants
        picked = [x for v in wanted for x in ({"default": own[:1], "all": own}.get(v) or ([v] if v in own else []))]
        if not picked and all(v in known for v in wanted):
            checks.problems.append(f"{fw} has none of the variants {', '.join(wanted)}; its variants: {', '.join(own)}")
        chosen[fw] = list(dict.fromkeys(picked))
    return chosen


def _integers(checks: Checks, flag: str, text: str, minimum: int) -> list[int]:
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        checks.problems.append(f"{flag} is empty")
    values = [checks.integer(flag, t, minimum) for t in items]
    return list(dict.fromkeys(v for v in values if v is not None))


def plan_cases(settings: dict) -> list[Case]:
    """Validate ``run``'s settings (all problems at once) and expand them into cases."""
    checks = Checks()
    fws = checks.choices("--frameworks", settings["frameworks"], frameworks.NAMES)
    modes = checks.choices("--modes", settings["modes"], MODES)
    batches = _integers(checks, "--batch-size", settings["batch_size"], 1)
    sizes = _integers(checks, "--image-size", settings["image_size"], MIN_IMAGE_SIZE)
    precisions = checks.choices("--precision", settings["precision"], PRECISIONS)
    layouts = checks.choices("--layout", settings["layout"], ("native",) + LAYOUTS)
    wanted = [v.strip() for v in str(settings["variant"]).split(",") if v.strip()]
    if not wanted:
        checks.problems.append("--variant is empty")
    variants = _variants_of(fws, wanted, checks) if wanted else {}
    for flag, allowed in (("--lrn", tuple(LRN_CHOICES)), ("--device", frameworks.base.DEVICES),
                          ("--tf32", ("default", "on", "off"))):
        key = flag[2:]
        if settings[key] not in allowed:
            checks.problems.append(f"{flag} must be one of {', '.join(allowed)}, got {settings[key]!r}")
    burn_in = checks.integer("--burn-in", settings["burn_in"], 0)
    steps = checks.integer("--steps", settings["steps"], 1)
    threads = checks.integer("--threads", settings["threads"], 1)
    checks.number("--timeout", settings["timeout"], 1)
    checks.number("--peak-seconds", settings["peak_seconds"], 0)
    label = settings["label"]
    if label is not None and not LABEL_RE.match(label):
        checks.problems.append(f"--label {label!r} may hold only letters, digits, '.', '_' and '-'")
    _readable(checks, "--weights", settings["weights"])
    _writable_root(checks, Path(settings["out"]))
    checks.done()
    tf32 = {"default": None, "on": True, "off": False}[settings["tf32"]]
    def layouts_of(fw: str) -> list[str]:  # "native" also where the layout named is the native one
        native = frameworks.entry(fw).layouts[0]
        return list(dict.fromkeys("native" if layout in ("native", native) else layout for layout in layouts))

    cases = [
        Case(fw, mode, lrn, bool(settings["heads"]), batch, size, variant, precision, layout, tf32,
             settings["device"], threads, burn_in, steps)
        for fw in fws for variant in variants[fw] for layout in layouts_of(fw) for precision in precisions
        for batch in batches for size in sizes for lrn in LRN_CHOICES[settings["lrn"]] for mode in modes
    ]
    if settings["weights"]:
        for spec in dict.fromkeys(c.spec for c in cases):
            try:
                load_weights(settings["weights"], spec)
            except WeightsError as e:
                raise UserError(str(e)) from None
    return cases


def _not_runnable(case: Case) -> dict | None:
    """A result for a case that needs no worker: framework missing, or a layout it lacks."""
    reason = frameworks.missing_message(case.framework)
    if reason:
        return {"status": "unavailable", "error": reason}
    layouts = frameworks.entry(case.framework).layouts
    if case.layout != "native" and case.layout not in layouts:
        return {"status": "unsupported", "error": f"{case.framework} runs only {', '.join(layouts)} inside"}
    return None


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def execute(folder: RunFolder, cases: list[Case], timeout: float, weights: str | None) -> bool:
    """Run ``cases`` into ``folder``; False when interrupted (SIGINT or SIGTERM)."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with display.progress_bars() as start:
            for case in cases:
                skip = _not_runnable(case)
                if skip:
                    folder.record(case, Outcome(skip, ""))
                    display.console.print(f"[yellow]{case.label()}: {skip['status']}[/] ({skip['error']})")
                    continue
                update = start(case.label(), max(case.burn_in, 1) + case.steps)
                row = folder.record(case, run_case(case, timeout, update, weights))
                if row["status"] != "ok":
                    display.console.print(f"[red]{case.label()}: {row['status']}[/] {row['error']}")
                elif row["unstable"]:
                    display.console.print(f"[yellow]{case.label()}: unstable (IQR/median > 0.1)[/]")
            for case in folder.layer_cases():
                if _not_runnable(case):
                    continue
                update = start(f"per-layer {case.label()}", total_steps(case))
                job = {"kind": "layers", "case": case.to_dict()}
                outcome = run_worker(job, timeout, worker_env(case), update)
                if not folder.record_layers(case, outcome):
                    display.console.print(f"[yellow]per-layer {case.label()}: {outcome.result['status']}[/] "
                                          f"{outcome.result.get('error', '')}")
        return True
    except KeyboardInterrupt:
        return False
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_run(args) -> int:
    if args.resume:
        folder = RunFolder.resume(Path(args.resume))
        cases = folder.missing()
        timeout, weights = float(folder.env.get("timeout", 1800)), folder.env.get("weights")
        display.console.print(f"resuming {folder.path}: {len(cases)} of {len(folder.planned())} cases left")
    else:
        settings = run_settings(args)
        cases = plan_cases(settings)
        timeout, weights = float(settings["timeout"]), settings["weights"]
        env = envinfo.environment() | {"command": " ".join(sys.argv), "timeout": timeout, "weights": weights,
                                       "config": args.config, "weights_hash": _weights_hash(cases[0], weights),
                                       "per_layer": bool(settings["per_layer"])}
        folder = RunFolder.create(Path(settings["out"]), settings["label"], env, cases)
        if float(settings["peak_seconds"]) > 0:
            _record_peak(folder, cases, float(settings["peak_seconds"]), timeout)
    if folder.env.get("busy"):
        display.console.print(f"[yellow]the machine is busy (load {folder.env['load_average']:.1f} on "
                              f"{folder.env['cpu_count']} cores): timings will be noisy[/]")
    start = time.monotonic()
    completed = execute(folder, cases, timeout, weights)
    overhead = harness_overhead_s()
    wall = time.monotonic() - start
    timed = sum(r.get("mean_s", 0) * r["steps"] for r in folder.summary
                if r["status"] == "ok" and r.get("mean_s") == r.get("mean_s"))
    harness = {"overhead_per_step_s": overhead, "wall_s": wall,
               "outside_timed_steps_s": max(wall - timed, 0.0) if not args.resume else None}
    folder.finish(interrupted=not completed, harness=harness)
    for table in display.comparison_tables(folder.summary):
        display.console.print(table)
    for line in display.problem_lines(folder.summary):
        display.console.print(f"[red]{line}[/]")
    outside = harness["outside_timed_steps_s"]
    share = f"; outside timed steps {outside:.0f} s ({outside / wall:.0%})" if outside is not None and wall else ""
    display.console.print(f"harness overhead: {overhead * 1e6:.2f} us per step; wall time {wall:.0f} s{share}")
    display.console.print(f"results: {folder.path}/ (summary.csv, steps.csv, env.json, run.log)")
    if not completed:
        display.console.print(f"[red]interrupted[/]: finished cases are saved; continue with "
                              f"alexbench run --resume {folder.path}")
        return EXIT_INTERRUPTED
    return 0


def _record_peak(folder: RunFolder, cases: list[Case], seconds: float, timeout: float) -> None:
    """Measure each framework's ceiling into env.json; the best is the machine's rate."""
    from .peak import peak_rate

    runnable = [c.framework for c in cases if frameworks.missing_message(c.framework) is None]
    display.console.print("measuring the machine's fp32 peak in each framework...")
    peaks = measure_peaks(runnable, cases[0].device, cases[0].threads, seconds, timeout)
    folder.env["peak"] = peaks
    ok = [p for p in peaks.values() if p.get("status") == "ok"]
    if ok:
        folder.env["peak_gflops"] = peak_rate(ok)
        display.console.print(print_peaks(peaks))
    folder.flush()


def print_peaks(peaks: dict[str, dict]) -> str:
    """One line per framework: matmul and conv GFLOP/s (median of steps, best step)."""
    lines = []
    for fw, p in peaks.items():
        if p.get("status") != "ok":
            lines.append(f"{fw}: {p.get('status')} {p.get('error', '')}")
            continue
        lines.append(f"{fw:<11} matmul {p['matmul_n']}^3: {p['matmul_gflops_median']:7.1f} GFLOP/s "
                     f"(best {p['matmul_gflops_best']:.1f}); conv2-shaped conv: {p['conv_gflops_median']:7.1f} "
                     f"(best {p['conv_gflops_best']:.1f})")
    ok = [p for p in peaks.values() if p.get("status") == "ok"]
    if ok:
        from .peak import peak_rate
        lines.append(f"machine peak (best median): {peak_rate(ok):.1f} GFLOP/s")
    return "\n".join(lines)


def cmd_peak(args) -> int:
    checks = Checks()
    fws = checks.choices("--frameworks", args.frameworks, frameworks.NAMES)
    seconds = checks.number("--seconds", args.seconds, 0.1)
    threads = checks.integer("--threads", args.threads, 1)
    checks.done()
    installed = [fw for fw in fws if frameworks.missing_message(fw) is None]
    if not installed:
        raise UserError("no framework to measure is installed")
    print(print_peaks(measure_peaks(installed, args.device, threads, seconds, timeout=600)))
    return 0


def _weights_hash(case: Case, weights: str | None) -> str:
    from frameworks.weights import weights_hash
    w = load_weights(weights, case.spec) if weights else canonical_weights(case.spec, case.seed)
    return weights_hash(w)


def cmd_parity(args) -> int:
    from . import parity

    checks = Checks()
    fws = checks.choices("--frameworks", args.frameworks, frameworks.NAMES)
    timeout = checks.number("--timeout", args.timeout, 1)
    args.heads = args.heads or args.train
    spec = _spec(args, checks)
    _readable(checks, "--weights", args.weights)
    _readable(checks, "--images", args.images)
    if args.dump and Path(args.dump).exists() and not Path(args.dump).is_dir():
        checks.problems.append(f"--dump {args.dump} is not a folder")
    checks.done()
    try:
        weights = load_weights(args.weights, spec) if args.weights else canonical_weights(spec)
        images = load_images(args.images, spec) if args.images else random_images(spec)
    except WeightsError as e:
        raise UserError(str(e)) from None
    installed = [fw for fw in fws if frameworks.missing_message(fw) is None]
    for fw in fws:
        if fw not in installed:
            print(frameworks.missing_message(fw))
    if not installed:
        raise UserError("no framework to check is installed")
    dump = None
    if args.dump:
        dump = Path(args.dump)
        dump.mkdir(parents=True, exist_ok=True)
    results = parity.check(spec, weights, images, installed, args.device, timeout, dump, args.train)
    print(parity.format_table(results))
    return 0 if all(r.passed or r.status == "unsupported" for r in results) else 1


def cmd_layers(args) -> int:
    checks = Checks()
    spec = _spec(args, checks)
    checks.done()
    print(format_layer_table(spec))
    print()
    if args.framework:
        from .activations import backend_listing
        print(backend_listing(args.framework, spec, args.device))
    else:
        print(activation_listing(spec))
    return 0


def cmd_env(args) -> int:
    print(json.dumps(envinfo.environment(), indent=2))
    return 0


def _ab_side(checks: Checks, text: str) -> tuple[str, str] | None:
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


def _ab_pair(checks: Checks, a: tuple[str, str] | None, b: tuple[str, str] | None) -> None:
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
    from .ab import ABResult, format_ab, steps_csv
    from .results import write_atomic

    checks = Checks()
    a, b = _ab_side(checks, args.a), _ab_side(checks, args.b)
    _ab_pair(checks, a, b)
    modes = checks.choices("--modes", args.modes, MODES)
    spec = _spec(args, checks)
    rounds = checks.integer("--rounds", args.rounds, 2)
    steps = checks.integer("--steps", args.steps, 1)
    burn_in = checks.integer("--burn-in", args.burn_in, 0)
    threads = checks.integer("--threads", args.threads, 1)
    timeout = checks.number("--timeout", args.timeout, 1)
    csv = Path(args.csv) if args.csv else None
    if csv is not None and (csv.is_dir() or not csv.parent.is_dir() or not os.access(csv.parent, os.W_OK)):
        checks.problems.append(f"--csv {csv} cannot be written")
    checks.done()
    setting = dict(lrn=spec.lrn, heads=spec.heads, batch_size=spec.batch_size, image_size=spec.image_size,
                   device=args.device, threads=threads, burn_in=burn_in, steps=steps)
    name_a, name_b = (f"{fw} {variant}" for fw, variant in (a, b))
    results, failures, device = [], [], args.device
    for mode in modes:
        case_a, case_b = (Case(fw, mode, variant=variant, **setting) for fw, variant in (a, b))
        job = {"kind": "ab", "case": case_a.to_dict(), "other": case_b.to_dict(), "rounds": rounds}
        result = run_worker(job, timeout, worker_env(case_a)).result
        if result["status"] != "ok":
            failures.append(f"{mode}: {result['status']}: {result.get('error', '')}")
            continue
        results.append(ABResult(mode, result["a"], result["b"]))
        device = result["describe"][0].get("device_name") or device
    if results:
        print(format_ab(f"{name_a} (A) vs {name_b} (B), one process on {device}: batch {spec.batch_size}, "
                        f"{spec.image_size} px, LRN {'on' if spec.lrn else 'off'}, {rounds} rounds of {steps} "
                        "timed steps per mode", name_a, name_b, results))
        if csv is not None:
            write_atomic(csv, steps_csv(results, name_a, name_b))
            print(f"steps: {csv}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
    slower = args.fail_if_slower and any(r.verdict == "slower" for r in results)
    return 1 if failures or slower else 0


def cmd_report(args) -> int:
    from .report import write_report
    from .results import newest_run

    run_dir = Path(args.run_dir) if args.run_dir else newest_run()
    print(f"report: {write_report(run_dir)}")
    return 0


def cmd_targets(args) -> int:
    from .results import newest_run
    from .targets import check

    lines, met = check(Path(args.run_dir) if args.run_dir else newest_run())
    print("\n".join(lines))
    return 0 if met else 1


def cmd_compare(args) -> int:
    from .compare import compare_runs, format_compare

    fail_above = None
    if args.fail_above is not None:
        checks = Checks()
        fail_above = checks.number("--fail-above", args.fail_above, 1.0)
        checks.done()
    result = compare_runs(args.run_a, args.run_b, fail_above)
    print(format_compare(result))
    return result.exit_code


COMMANDS = {"run": cmd_run, "parity": cmd_parity, "layers": cmd_layers, "peak": cmd_peak, "targets": cmd_targets,
            "ab": cmd_ab, "env": cmd_env, "report": cmd_report, "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"alexbench: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("alexbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
