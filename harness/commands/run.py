"""``alexbench run``: plan the cases, measure the peak, run each case in its own process into the run folder,
and show the tables; Ctrl-C or SIGTERM keeps every finished case."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from rich.markup import escape

import frameworks
from frameworks.weights import canonical_weights, load_weights, weights_hash
from harness.core.cases import Case
from harness.measure.launch import Outcome, run_worker
from harness.measure.layers import total_steps
from harness.measure.peak import measure_peaks
from harness.measure.ranks import Launch, port_is_free, run_case
from harness.measure.threads import worker_env
from harness.measure.timing import harness_overhead_s
from harness.present import terminal, views
from harness.results import envinfo
from harness.results.runfolder import RunFolder
from harness.results.stats import peak_rate

from .plan import plan_cases, run_settings

EXIT_INTERRUPTED = 130  # as a shell reports a process ended by Ctrl-C


def _not_runnable(case: Case) -> dict | None:
    """A result for a case that needs no worker: framework missing, or a layout or scheme it lacks."""
    reason = frameworks.missing_message(case.framework)
    if reason:
        return {"status": "unavailable", "error": reason}
    entry = frameworks.entry(case.framework)
    if case.layout != "native" and case.layout not in entry.layouts:
        return {"status": "unsupported", "error": f"{case.framework} runs only {', '.join(entry.layouts)} inside"}
    if case.distributed and entry.distributed is None:
        return {"status": "unsupported", "error": f"{case.framework} has no data-parallel backend"}
    if case.parallel == "hybrid" and not case.heads:
        return {"status": "unsupported", "error": "hybrid splits the FC heads over the workers: give --heads "
                "(train_step has them)"}
    return None


def _measure(case: Case, index: int, timeout: float, weights: str | None, launch: Launch, update) -> Outcome:
    """One case: a worker, or this node's ranks of a distributed case."""
    rendezvous = launch.rendezvous(case, index) if case.distributed else None
    if rendezvous and launch.node_rank == 0 and not port_is_free(rendezvous.master_addr, rendezvous.master_port):
        return Outcome({"status": "failed", "error": f"port {rendezvous.master_port} of {rendezvous.master_addr} is "
                        "busy: give --coordinator another port"}, "")
    return run_case(case, timeout, update, weights, rendezvous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def execute(folder: RunFolder | None, cases: list[Case], timeout: float, weights: str | None,
            launch: Launch) -> bool:
    """Run ``cases`` into ``folder`` (on a node other than 0: no folder, its ranks only); False when interrupted
    (SIGINT or SIGTERM)."""
    console = terminal.console
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    planned = {c.key(): i for i, c in enumerate(folder.planned() if folder else cases)}
    try:
        with terminal.progress_bars() as start:
            for case in cases:
                skip = _not_runnable(case)
                if skip:
                    if folder:
                        folder.record(case, Outcome(skip, ""))
                    console.print(f"[yellow]{case.label()}: {skip['status']}[/] ({escape(skip['error'])})")
                    continue
                update = start(case.label(), max(case.burn_in, 1) + case.steps)
                outcome = _measure(case, planned[case.key()], timeout, weights, launch, update)
                row = folder.record(case, outcome) if folder else outcome.result | {"unstable": False}
                if row["status"] != "ok":
                    console.print(f"[red]{case.label()}: {row['status']}[/] {escape(row['error'])}")
                elif row["unstable"]:
                    console.print(f"[yellow]{case.label()}: unstable (IQR/median > 0.1)[/]")
            for case in folder.layer_cases() if folder else []:
                if _not_runnable(case):
                    continue
                update = start(f"per-layer {case.label()}", total_steps(case))
                job = {"kind": "layers", "case": case.to_dict()}
                outcome = run_worker(job, timeout, worker_env(case.threads), update)
                if not folder.record_layers(case, outcome):
                    console.print(f"[yellow]per-layer {case.label()}: {outcome.result['status']}[/] "
                                  f"{escape(outcome.result.get('error', ''))}")
        return True
    except KeyboardInterrupt:
        return False
    finally:
        signal.signal(signal.SIGTERM, previous)


def _weights_hash(case: Case, weights: str | None) -> str:
    w = load_weights(weights, case.spec) if weights else canonical_weights(case.spec, case.seed)
    return weights_hash(w)


def record_peak(folder: RunFolder, cases: list[Case], seconds: float, timeout: float) -> None:
    """Measure each framework's ceiling into env.json; the best is the machine's rate."""
    runnable = [c.framework for c in cases if frameworks.missing_message(c.framework) is None]
    terminal.console.print("measuring the machine's fp32 peak in each framework...")
    peaks = measure_peaks(runnable, cases[0].device, cases[0].threads, seconds, timeout)
    folder.env["peak"] = peaks
    ok = [p for p in peaks.values() if p.get("status") == "ok"]
    if ok:
        folder.env["peak_gflops"] = peak_rate(ok)
        terminal.show(views.peak_lines(peaks))
    folder.flush()


def follow(cases: list[Case], timeout: float, weights: str | None, launch: Launch) -> int:
    """A node other than 0: its ranks of every case, in the plan's order; node 0 records them."""
    terminal.console.print(f"node {launch.node_rank}: running this node's ranks of {len(cases)} cases; node 0 at "
                           f"{launch.coordinator[0]} writes the run folder")
    return 0 if execute(None, cases, timeout, weights, launch) else EXIT_INTERRUPTED


def cmd_run(args) -> int:
    console = terminal.console
    if args.resume:
        folder = RunFolder.resume(Path(args.resume))
        cases = folder.missing()
        timeout, weights = float(folder.env.get("timeout", 1800)), folder.env.get("weights")
        launch = Launch.of(folder.env.get("launch") or {}, folder.planned())
        console.print(f"resuming {folder.path}: {len(cases)} of {len(folder.planned())} cases left")
    else:
        settings = run_settings(args)
        cases = plan_cases(settings)
        timeout, weights = float(settings["timeout"]), settings["weights"]
        launch = Launch.of(settings, cases)
        if launch.node_rank > 0:
            return follow(cases, timeout, weights, launch)
        env = envinfo.environment() | {"command": " ".join(sys.argv), "timeout": timeout, "weights": weights,
                                       "config": args.config, "weights_hash": _weights_hash(cases[0], weights),
                                       "per_layer": bool(settings["per_layer"]), "launch": launch.to_dict()}
        folder = RunFolder.create(Path(settings["out"]), settings["label"], env, cases)
        if float(settings["peak_seconds"]) > 0:
            record_peak(folder, cases, float(settings["peak_seconds"]), timeout)
    if folder.env.get("busy"):
        console.print(f"[yellow]the machine is busy (load {folder.env['load_average']:.1f} on "
                      f"{folder.env['cpu_count']} cores): timings will be noisy[/]")
    start = time.monotonic()
    completed = execute(folder, cases, timeout, weights, launch)
    overhead = harness_overhead_s()
    wall = time.monotonic() - start
    timed = sum(r.get("mean_s", 0) * r["steps"] for r in folder.summary
                if r["status"] == "ok" and r.get("mean_s") == r.get("mean_s"))
    harness = {"overhead_per_step_s": overhead, "wall_s": wall,
               "outside_timed_steps_s": max(wall - timed, 0.0) if not args.resume else None}
    folder.finish(interrupted=not completed, harness=harness)
    terminal.show(views.run_tables(folder.summary))
    terminal.show(views.problem_lines(folder.summary))
    outside = harness["outside_timed_steps_s"]
    share = f"; outside timed steps {outside:.0f} s ({outside / wall:.0%})" if outside is not None and wall else ""
    console.print(f"harness overhead: {overhead * 1e6:.2f} us per step; wall time {wall:.0f} s{share}")
    console.print(f"results: {folder.path}/ (summary.csv, steps.csv, env.json, run.log)")
    if not completed:
        console.print(f"[red]interrupted[/]: finished cases are saved; continue with "
                      f"alexbench run --resume {folder.path}")
        return EXIT_INTERRUPTED
    return 0
