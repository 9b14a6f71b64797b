"""Every option of the commands, declared once: name, kind, default, check and help.

A declaration feeds the argparse flag (``--batch-size``), the TOML key of ``run --config`` (``batch_size``)
and the defaults; ``Checks.value`` checks a value of it the same way whether it came from a flag or a file,
collecting every problem of a command line to report them together. Commands that share an option with
``run`` but not its default take a copy (``OPTIONS["batch_size"].but(default="2")``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace

import frameworks
from frameworks.base import DEVICES, LAYOUTS, PRECISIONS
from frameworks.spec import MIN_IMAGE_SIZE
from harness.core.cases import DEFAULT_MODES, MODES
from harness.core.errors import UserError

KINDS = ("int", "number", "bool", "choice", "text")


@dataclass(frozen=True)
class Option:
    """One option. ``many``: a comma list on the command line, a list in TOML, and each value a case of the
    sweep. ``choices`` is a tuple, or a function giving one (the frameworks registered when it is called)."""

    name: str
    kind: str
    help: str
    default: str | bool | None = None
    many: bool = False
    minimum: float | None = None
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()
    metavar: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> tuple[str, ...]:
        return self.choices() if callable(self.choices) else self.choices

    def but(self, **changes) -> Option:
        """This option with another default, help or choice list (for a command other than ``run``)."""
        return replace(self, **changes)

    def add_to(self, parser: argparse.ArgumentParser, layered: bool = False) -> None:
        """The flag. ``layered``: its default is None, so that a config file can sit between the declared
        default and the flag (``run``); the help still names the declared default."""
        default = None if layered else self.default
        shown = "" if self.default is None else f" (default: {self.default if self.kind != 'bool' else 'off'})"
        if self.kind == "bool":
            parser.add_argument(self.flag, action="store_true", default=None if layered else False,
                                help=self.help + shown)
            return
        single_choice = self.kind == "choice" and not self.many
        parser.add_argument(self.flag, default=default, help=self.help + shown,
                            choices=self.allowed() if single_choice else None,
                            metavar=None if single_choice else self.metavar or self._metavar())

    def _metavar(self) -> str:
        word = {"int": "N", "number": "S", "choice": self.name.split("_")[0].upper()[:1], "text": "TEXT"}[self.kind]
        return f"{word}[,{word}...]" if self.many else word


def variant_help() -> str:
    return "; ".join(f"{n}: {', '.join(frameworks.entry(n).variants)}" for n in frameworks.NAMES[:3])


# ``run``'s options, in the order of its --help; every other command's options are copies of these.
RUN_OPTIONS = [
    Option("frameworks", "choice", "comma list of frameworks", ",".join(frameworks.NAMES[:3]), many=True,
           choices=lambda: frameworks.NAMES, metavar="NAME[,NAME...]"),
    Option("modes", "choice", f"comma list of {', '.join(MODES)}; train_step is softmax cross-entropy + SGD with "
           "momentum, with the FC heads", ",".join(DEFAULT_MODES), many=True, choices=MODES, metavar="MODE[,MODE...]"),
    Option("lrn", "choice", "local response normalization after conv1/conv2: on, off or both", "both",
           choices=("on", "off", "both")),
    Option("heads", "bool", "add the FC heads fc6-fc8 (as the seed code: off)"),
    Option("batch_size", "int", "images per batch", "32", many=True, minimum=1),
    Option("image_size", "int", f"square input size, at least {MIN_IMAGE_SIZE} (224: the seed's)", "224", many=True,
           minimum=MIN_IMAGE_SIZE, metavar="PX[,PX...]"),
    Option("device", "choice", "auto: the GPU when the framework sees one; cuda without a GPU gives status "
           "'unavailable' per case", "auto", choices=DEVICES),
    Option("precision", "choice", f"{', '.join(PRECISIONS)}; bf16 and fp16 are mixed precision: fp32 weights, "
           "low-precision compute", "fp32", many=True, choices=PRECISIONS, metavar="P[,P...]"),
    Option("variant", "text", "execution mode: default (each framework's first), all, or names: "
           f"{variant_help()}", "default", many=True, metavar="V[,V...]"),
    Option("layout", "choice", "layout inside the backend: native (NCHW for torch, NHWC for the others), nhwc, nchw",
           "native", many=True, choices=("native", *LAYOUTS), metavar="L[,L...]"),
    Option("tf32", "choice", "TF32 on GPU for every framework (default: each framework's own default); recorded "
           "per case", "default", choices=("default", "on", "off")),
    Option("burn_in", "int", "untimed steps first; the first is always run and kept as compile_s", "10", minimum=0),
    Option("steps", "int", "timed steps", "100", minimum=1),
    Option("threads", "int", "CPU cores and compute threads for every framework alike (default: each "
           "framework's own default)", minimum=1),
    Option("timeout", "number", "seconds per case", "1800", minimum=1),
    Option("per_layer", "bool", "also time each layer alone, forward and backward, per framework and setting, "
           "into layers.csv"),
    Option("peak_seconds", "number", "first measure the machine's fp32 ceiling in each framework, S seconds per "
           "product, for pct_of_peak (0 skips it)", "2", minimum=0),
    Option("workers", "int", "run each case as N data-parallel ranks, one process each, on the framework's own "
           "distributed engine; each rank takes --batch-size images (weak scaling); a comma list sweeps (default: one "
           "process, no engine)", many=True, minimum=1, metavar="N[,N...]"),
    Option("parallel", "choice", "with --workers: dp (every rank the whole model, gradients all-reduced; the "
           "default) or hybrid (convolutions data-parallel, FC heads split by columns: Krizhevsky's one weird trick)",
           many=True, choices=("dp", "hybrid"), metavar="P[,P...]"),
    Option("nodes", "int", "machines the workers are spread over (the same command on each, with its --node-rank)",
           "1", minimum=1),
    Option("node_rank", "int", "this machine's place among the nodes; node 0 writes the run folder", "0", minimum=0),
    Option("coordinator", "text", "node 0's HOST:PORT, where the ranks meet (each case uses the next ports); "
           "default: free ports on 127.0.0.1 (one node)", metavar="HOST:PORT"),
    Option("hosts", "text", "every node's host, in node-rank order (TensorFlow's TF_CONFIG lists each worker's "
           "address); default: the coordinator's host for every node", metavar="H0,H1,..."),
    Option("out", "text", "results root", "results", metavar="DIR"),
    Option("label", "text", "suffix of the run id (letters, digits, . _ -)"),
    Option("weights", "text", "canonical weights to load instead of the generated ones", metavar="FILE.npz"),
]
OPTIONS = {o.name: o for o in RUN_OPTIONS}

# The model flags parity, layers and ab share with run: single values, LRN on or off.
MODEL_OPTIONS = {"batch_size": OPTIONS["batch_size"].but(many=False),
                 "image_size": OPTIONS["image_size"].but(many=False, metavar="PX"),
                 "lrn": OPTIONS["lrn"].but(choices=("on", "off"), default="on",
                                           help="local response normalization after conv1/conv2"),
                 "heads": OPTIONS["heads"], "device": OPTIONS["device"]}
PARITY_TIMEOUT = OPTIONS["timeout"].but(default="600", help="seconds per framework")
PARITY_WORKERS = OPTIONS["workers"].but(many=False, metavar="N", help="check the framework's distributed backend: "
                                        "N ranks, each on --batch-size rows of the batch (--images holds them all, "
                                        "rank r rows r*B to (r+1)*B-1); gradients averaged over the ranks (default: "
                                        "one process)")
PARITY_PARALLEL = OPTIONS["parallel"].but(many=False, metavar="P")
PARITY_PRECISION = OPTIONS["precision"].but(many=False, metavar="P", help="the compute precision to check: fp32, "
                                            "or mixed bf16 / fp16 (their errors are far above float32's 1e-5: the "
                                            "measure of what they need)")
PARITY_TF32 = OPTIONS["tf32"].but(choices=("off", "on"), default="off", help="TF32 on GPU (off: float32's "
                                  "tolerance holds; on: measures what TF32 needs)")
AB_OPTIONS = {"rounds": Option("rounds", "int", "rounds per mode, at least 2; p < 0.01 needs 8 or more", "10",
                               minimum=2),
              "steps": OPTIONS["steps"].but(default="10", help="timed steps per block"),
              "burn_in": OPTIONS["burn_in"].but(default="10", help="untimed steps of each first"),
              "threads": OPTIONS["threads"].but(help="cores and threads for the process"),
              "timeout": OPTIONS["timeout"].but(help="seconds per mode")}
PEAK_OPTIONS = {"frameworks": OPTIONS["frameworks"], "threads": OPTIONS["threads"],
                "seconds": OPTIONS["peak_seconds"].but(name="seconds", default="3", minimum=0.1,
                                                       help="seconds per product")}
FAIL_ABOVE = Option("fail_above", "number", "exit 1 when a significant slowdown B/A exceeds RATIO (e.g. 1.10)",
                    minimum=1.0, metavar="RATIO")


class Checks:
    """Collects every problem of one command line, to report them together."""

    def __init__(self):
        self.problems: list[str] = []

    def value(self, option: Option, value) -> object:
        """``value`` of ``option`` checked: an int, a float, a bool, text, or for ``many`` a list of them without
        repeats; None where it is None or wrong (the problem is noted)."""
        if value is None or option.kind == "bool":
            return value
        if not option.many:
            return self._one(option, str(value))
        items = [s.strip() for s in str(value).split(",") if s.strip()]
        if not items:
            choose = f"; choose from {', '.join(option.allowed())}" if option.kind == "choice" else ""
            self.problems.append(f"{option.flag} is empty{choose}")
        checked = [self._one(option, item) for item in items]
        return list(dict.fromkeys(v for v in checked if v is not None))

    def _one(self, option: Option, text: str):
        if option.kind in ("int", "number"):
            return self._number(option, text)
        if option.kind == "choice" and text not in option.allowed():
            allowed = ", ".join(option.allowed())
            if option.many:
                self.problems.append(f"unknown {option.name.rstrip('s')} {text!r}; choose from {allowed}")
            else:
                self.problems.append(f"{option.flag} must be one of {allowed}, got {text!r}")
            return None
        return text

    def _number(self, option: Option, text: str) -> int | float | None:
        try:
            value = int(text) if option.kind == "int" else float(text)
        except ValueError:
            self.problems.append(f"{option.flag} must be {'an integer' if option.kind == 'int' else 'a number'}, "
                                 f"got {text!r}")
            return None
        if option.minimum is not None and not value >= option.minimum:
            self.problems.append(f"{option.flag} must be >= {option.minimum:g}, got {text}")
            return None
        return value

    def done(self) -> None:
        if self.problems:
            raise UserError("; ".join(self.problems))
