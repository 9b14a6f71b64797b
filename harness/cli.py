"""The ``alexbench`` command: its subcommands and flags, and the dispatch to harness.commands."""

from __future__ import annotations

import argparse
import importlib
import sys

import frameworks
from harness.commands.options import (
    AB_OPTIONS,
    FAIL_ABOVE,
    MODEL_OPTIONS,
    OPTIONS,
    PARITY_PARALLEL,
    PARITY_PRECISION,
    PARITY_TF32,
    PARITY_TIMEOUT,
    PARITY_WORKERS,
    PEAK_OPTIONS,
    RUN_OPTIONS,
)
from harness.core.errors import UserError

EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130
# Each command's function, imported when it runs (the others' modules, and what they load, are not).
COMMANDS = {"run": "run:cmd_run", "parity": "parity:cmd_parity", "layers": "machine:cmd_layers",
            "peak": "machine:cmd_peak", "env": "machine:cmd_env", "ab": "ab:cmd_ab", "targets": "runs:cmd_targets",
            "report": "runs:cmd_report", "compare": "runs:cmd_compare"}


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line and exit code 2."""

    def error(self, message: str):
        raise UserError(message)


def _model_flags(parser: argparse.ArgumentParser, batch: str) -> None:
    for name, option in MODEL_OPTIONS.items():
        option.but(default=batch).add_to(parser) if name == "batch_size" else option.add_to(parser)


def build_parser() -> Parser:
    parser = Parser(prog="alexbench", description="The seed AlexNet in TensorFlow, PyTorch and JAX, "
                    "timed by one harness. Results go to results/<run-id>/.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="time forward, forward_backward and train_step per framework",
                         description="Time each case (framework x variant x precision x layout x batch x size "
                         "x LRN x mode) in its own process: burn-in steps, then timed steps, as the seed does. "
                         "Comma lists sweep. Defaults are the seed's protocol.")
    run.add_argument("--config", metavar="FILE.toml", help="read these flags from a TOML file (keys as the flags, "
                     "with _ for -; lists for comma lists); flags given here override it")
    for option in RUN_OPTIONS:
        option.add_to(run, layered=True)
    run.add_argument("--resume", metavar="RUN_DIR", help="run only the cases missing "
                     "from an interrupted run, in its folder (other flags are ignored)")

    parity = sub.add_parser("parity", help="check every backend against the float64 NumPy reference",
                            description="Run every installed backend in its own process on the same "
                            "weights and batch; compare output and gradients with the reference.")
    OPTIONS["frameworks"].but(help="comma list; those not installed are named and skipped").add_to(parity)
    OPTIONS["variant"].add_to(parity)
    _model_flags(parity, "2")
    parity.add_argument("--weights", metavar="FILE.npz", help="use these weights (canonical names)")
    parity.add_argument("--images", metavar="FILE.npy", help="use this NHWC float32 batch")
    parity.add_argument("--dump", metavar="DIR", help="write DIR/<framework>.npz (output, grad/<name>; a variant "
                        "other than the framework's default: DIR/<framework>-<variant>.npz)")
    parity.add_argument("--train", action="store_true", help="compare the parameters after 2 train_step "
                        "steps (softmax cross-entropy, SGD with momentum; turns the heads on) instead")
    parity.add_argument("--labels", metavar="FILE.npy", help="with --train: the integer class id of each image "
                        "(default: fixed random labels)")
    PARITY_WORKERS.add_to(parity)
    PARITY_PARALLEL.add_to(parity)
    PARITY_PRECISION.add_to(parity)
    PARITY_TF32.add_to(parity)
    PARITY_TIMEOUT.add_to(parity)

    layers = sub.add_parser("layers", help="the layer table: shapes, parameters, FLOPs",
                            description="Print the framework-free layer table and the seed's "
                            "print_activations listing (from a backend with --framework).")
    _model_flags(layers, "32")
    layers.add_argument("--framework", choices=frameworks.NAMES, help="run this backend and list its shapes")

    peak = sub.add_parser("peak", help="the machine's fp32 ceiling: a large matmul and conv per framework",
                          description="Time a large fp32 matrix product and a conv2-shaped convolution in each "
                          "installed framework; the best median is the rate pct_of_peak refers to.")
    for option in PEAK_OPTIONS.values():
        option.add_to(peak)
    OPTIONS["device"].add_to(peak)

    ab = sub.add_parser("ab", help="two variants in one process, in alternating rounds (drift-free A/B)",
                        description="Build A and B in one worker process and time them in rounds: a block of "
                        "steps of A, then of B, the order alternating each round, so drift between processes "
                        "cannot decide the comparison. A and B must share a framework runtime (variants of one "
                        "framework, or tensorflow and tf1-seed). Example: alexbench ab tensorflow tf1-seed")
    ab.add_argument("a", metavar="A", help="framework[:variant], e.g. tensorflow or torch:compile")
    ab.add_argument("b", metavar="B", help="framework[:variant], e.g. tf1-seed")
    OPTIONS["modes"].add_to(ab)
    _model_flags(ab, "32")
    for option in AB_OPTIONS.values():
        option.add_to(ab)
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

    compare = sub.add_parser("compare", help="compare two runs case by case (Mann-Whitney U)",
                             description="Each case the two runs share: median A and B, B/A, and whether B is "
                             "significantly faster or slower (p < 0.01); a chart of B/A beside run B.")
    compare.add_argument("run_a", help="the baseline run folder")
    compare.add_argument("run_b", help="the run folder to compare with it")
    FAIL_ABOVE.add_to(compare)
    return parser


def command(name: str):
    """The function of command ``name``."""
    module, function = COMMANDS[name].split(":")
    return getattr(importlib.import_module(f"harness.commands.{module}"), function)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return command(args.command)(args)
    except UserError as e:
        print(f"alexbench: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("alexbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
