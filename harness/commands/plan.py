"""``run``'s settings (declared defaults, then the config file, then the flags) checked and expanded into cases."""

from __future__ import annotations

import os
from pathlib import Path

import frameworks
from frameworks.weights import WeightsError, load_weights
from harness.core.cases import Case
from harness.core.errors import UserError
from harness.measure.threads import usable_cores
from harness.results.runfolder import LABEL_RE

from .config import load_config
from .options import OPTIONS, Checks, variant_help

LRN_CHOICES = {"on": (True,), "off": (False,), "both": (True, False)}
TF32 = {"default": None, "on": True, "off": False}


def run_settings(args) -> dict:
    """Defaults, then the config file, then the flags given."""
    settings = {name: option.default for name, option in OPTIONS.items()}
    if args.config:
        settings |= load_config(args.config)
    return settings | {k: v for k, v in vars(args).items() if k in OPTIONS and v is not None}


def readable(checks: Checks, flag: str, path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        checks.problems.append(f"{flag} {path}: no such file")


def _writable_root(checks: Checks, root: Path) -> None:
    probe = root
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        checks.problems.append(f"--out {root} cannot be written")


def variants_of(fws: list[str], wanted: list[str], checks: Checks) -> dict[str, list[str]]:
    """Each framework's variants among ``wanted`` (``default``: its first; ``all``: every one)."""
    known = {v for fw in fws for v in frameworks.entry(fw).variants} | {"default", "all"}
    for v in wanted:
        if v not in known:
            checks.problems.append(f"unknown variant {v!r}; choose from default, all, {variant_help()}")
    chosen = {}
    for fw in fws:
        own = frameworks.entry(fw).variants
        picked = [x for v in wanted for x in ({"default": own[:1], "all": own}.get(v) or ([v] if v in own else []))]
        if not picked and all(v in known for v in wanted):
            checks.problems.append(f"{fw} has none of the variants {', '.join(wanted)}; its variants: {', '.join(own)}")
        chosen[fw] = list(dict.fromkeys(picked))
    return chosen


def _layouts_of(fw: str, layouts: list[str]) -> list[str]:
    """``native`` also where the layout named is the framework's native one."""
    native = frameworks.entry(fw).layouts[0]
    return list(dict.fromkeys("native" if layout in ("native", native) else layout for layout in layouts))


def coordinator_address(checks: Checks, text: str | None) -> tuple[str, int] | None:
    """``HOST:PORT`` as (host, port); None (with the problem noted) when malformed."""
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        checks.problems.append(f"--coordinator {text!r} must be HOST:PORT, with a port from 1 to 65535")
        return None
    return host, int(port)


def _distributed(v: dict, checks: Checks) -> list[tuple[int, int, str]]:
    """(workers, nodes, parallel) of each case's placement: one process, or every --workers x --parallel; the threads
    per worker (default: the cores divided by the most workers a node runs) set in ``v``."""
    if not v["workers"]:
        if v["parallel"]:
            checks.problems.append("--parallel needs --workers")
        if v["nodes"] and v["nodes"] > 1:
            checks.problems.append("--nodes needs --workers")
        return [(1, 1, "none")]
    nodes, node_rank = v["nodes"] or 1, v["node_rank"] or 0
    if node_rank >= nodes:
        checks.problems.append(f"--node-rank {node_rank} must be below --nodes {nodes}")
    if nodes > 1 and v["coordinator"] is None:
        checks.problems.append(f"--nodes {nodes} needs --coordinator HOST:PORT: node 0's address, the same on every "
                               "node")
    hosts = [h.strip() for h in (v["hosts"] or "").split(",") if h.strip()]
    if hosts and len(hosts) != nodes:
        checks.problems.append(f"--hosts names {len(hosts)} hosts for --nodes {nodes}")
    for n in v["workers"]:
        if n % nodes:
            checks.problems.append(f"--workers {n} is not a multiple of --nodes {nodes}: every node runs as many")
    per_node = max(v["workers"]) // nodes
    cores = len(usable_cores())
    threads = v["threads"] or max(cores // per_node, 1)
    if threads * per_node > cores:
        checks.problems.append(f"{per_node} workers per node x {threads} threads need {threads * per_node} cores; "
                               f"this machine has {cores}")
    v["threads"] = threads
    return [(n, nodes, p) for n in v["workers"] for p in v["parallel"] or ["dp"]]


def plan_cases(settings: dict) -> list[Case]:
    """Check ``run``'s settings (every problem at once) and expand them into cases."""
    checks = Checks()
    v = {name: checks.value(option, settings[name]) for name, option in OPTIONS.items()}
    variants = variants_of(v["frameworks"], v["variant"], checks) if v["variant"] else {}
    if v["label"] is not None and not LABEL_RE.match(v["label"]):
        checks.problems.append(f"--label {v['label']!r} may hold only letters, digits, '.', '_' and '-'")
    readable(checks, "--weights", v["weights"])
    _writable_root(checks, Path(v["out"]))
    coordinator_address(checks, v["coordinator"])
    placements = _distributed(v, checks)
    checks.done()
    cases = [
        Case(fw, mode, lrn, bool(v["heads"]), batch, size, variant, precision, layout, tf32=TF32[v["tf32"]],
             device=v["device"], threads=v["threads"], burn_in=v["burn_in"], steps=v["steps"], workers=workers,
             nodes=nodes, parallel=parallel)
        for fw in v["frameworks"] for variant in variants[fw] for layout in _layouts_of(fw, v["layout"])
        for precision in v["precision"] for batch in v["batch_size"] for size in v["image_size"]
        for lrn in LRN_CHOICES[v["lrn"]] for mode in v["modes"] for workers, nodes, parallel in placements
    ]
    if v["weights"]:
        for spec in dict.fromkeys(c.spec for c in cases):
            try:
                load_weights(v["weights"], spec)
            except WeightsError as e:
                raise UserError(str(e)) from None
    return cases
