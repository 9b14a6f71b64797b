"""``<run>/report.md``: environment, results table, fastest framework, best variants, problems, figures,
the seed's figures.

Every number is summary.csv's (or env.json's), formatted: milliseconds with 2 decimals, rates and
percentages with 1, memory in MiB with 1, compile time in seconds with 3.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.core.files import write_atomic
from harness.results.naming import (
    SEED_GPU_SECONDS,
    case_label,
    device_text,
    framework_text,
    lrn_text,
    reference_text,
    sort_cases,
    varied,
)
from harness.results.tables import read_run

from . import ranking
from .charts.runcharts import TITLES, make_figures, peak_percentages
from .markdown import BLANK, case_columns, ms, number, percent, section

REPORT = "report.md"
PEAK_KEYS = (("matmul", "matmul_gflops_median", "matmul_gflops_best"),
             ("conv", "conv_gflops_median", "conv_gflops_best"))


def _peak(env: dict) -> list[str]:
    """The machine's measured fp32 ceiling (env.json peak_gflops) and each framework's figures."""
    if not env.get("peak_gflops") and not env.get("peak"):
        return []
    rate = env.get("peak_gflops")
    lines = [f"- measured fp32 peak: {rate:,.1f} GFLOP/s, the best median of each framework's large matrix "
             "product and conv2-shaped convolution; \"% of peak\" is a case's GFLOP/s over it" if rate
             else "- measured fp32 peak: none (no framework's measurement succeeded)"]
    for fw, figures in (env.get("peak") or {}).items():
        figures = figures if isinstance(figures, dict) else {"status": "failed", "error": str(figures)}
        if figures.get("status", "ok") != "ok":
            lines.append(f"  - {fw}: {figures['status']} {figures.get('error', '')}".rstrip())
            continue
        parts = [f"{name} {number(figures.get(median), ',.1f')} (best step {number(figures.get(best), ',.1f')})"
                 for name, median, best in PEAK_KEYS if figures.get(median) is not None]
        lines.append(f"  - {fw}: " + ("; ".join(parts) + " GFLOP/s" if parts else BLANK))
    return lines


def _harness_cost(env: dict) -> list[str]:
    """What the harness itself costs: its overhead per step and the run's time outside timed steps."""
    cost = env.get("harness") or {}
    if cost.get("overhead_per_step_s") is None:
        return []
    line = f"- harness cost: {cost['overhead_per_step_s'] * 1e6:.2f} µs of overhead per step (timed on a step " \
           "that does nothing)"
    outside, wall = cost.get("outside_timed_steps_s"), cost.get("wall_s")
    if outside is not None and wall:
        line += (f"; {outside:,.1f} s of the run's {wall:,.1f} s wall time ({outside / wall:.1%}) outside timed "
                 "steps (worker start, imports, weights, compile, burn-in)")
    else:
        line += "; time outside timed steps not recorded (a resumed run)"
    return [line]


def _allocators(env: dict) -> str:
    """The memory allocator setting of every variant that changes it (PyTorch's ``tuned``)."""
    changed = [f"{fw} {variant}: {info['allocator']}" for fw, variants in (env.get("backends") or {}).items()
               for variant, info in variants.items()
               if isinstance(info, dict) and info.get("allocator", "system default") != "system default"]
    return "- allocator: system default" + (f", except {'; '.join(changed)}" if changed else "")


def _environment(summary: pd.DataFrame, env: dict) -> list[str]:
    gpu = env.get("gpu") or {}
    gpu_text = ", ".join(f"{k} {gpu[k]}" for k in ("driver", "cuda", "memory") if gpu.get(k))
    versions = env.get("frameworks") or {}
    threads = summary[["framework", "threads"]].drop_duplicates().itertuples(index=False)
    lines = [
        f"- run: {env.get('run_id', BLANK)}, {env.get('started', '?')} to "
        f"{env.get('finished') or 'unfinished'}",
        f"- command: `{env['command']}`" if env.get("command") else "",
        f"- device: {device_text(summary)}",
        f"- CPU: {env.get('cpu_model', '?')}, {env.get('cpu_count', '?')} logical cores; "
        f"load average at start {env.get('load_average', '?')}",
        f"- GPU: {gpu['name']} ({gpu_text})" if gpu.get("name") else "- GPU: none",
        f"- OS {env.get('os', '?')}, Python {env.get('python', '?')}, "
        f"git commit {env.get('git_commit') or '?'}",
        "- packages: " + (", ".join(f"{k} {v}" for k, v in versions.items()) or BLANK),
        "- threads: " + ", ".join(f"{fw} {t}" for fw, t in threads),
        _allocators(env),
    ] + _peak(env) + _harness_cost(env)
    return [line for line in lines if line] + [""]


def _notes(summary: pd.DataFrame, env: dict) -> list[str]:
    notes = []
    if env.get("interrupted"):
        planned = len(env.get("cases") or []) or "?"
        notes.append(f"This run was interrupted: {len(summary)} of {planned} planned cases have a result.")
    if env.get("busy") or summary["busy"].any():
        notes.append(f"The machine was busy (load average {env.get('load_average', '?')} on "
                     f"{env.get('cpu_count', '?')} cores): timings may be slower and noisier than usual.")
    unstable = int(summary["unstable"].sum())
    if unstable:
        notes.append(f"{unstable} case(s) are unstable (IQR over median > 0.1): read them with care.")
    return [f"> **Note:** {n}" for n in notes] + ([""] if notes else [])


def _results(ok: pd.DataFrame, extras: list[str]) -> list[str]:
    peak = peak_percentages(ok)
    columns = [("framework", lambda r: framework_text(r["framework"]))] + case_columns(extras) + [
        ("mean ± sd (ms)", lambda r: f"{ms(r['mean_s'])} ± {ms(r['std_s'])}"),
        ("median (ms)", lambda r: ms(r["median_s"])),
        ("images/s", lambda r: number(r["images_per_s"], ".1f")),
        ("GFLOP/s", lambda r: number(r["gflops_per_s"], ".1f")),
    ] + ([("% of peak", lambda r: number(peak[r.name], ".1f"))] if peak is not None else []) + [
        ("peak memory (MiB)", lambda r: number(r["peak_mem_bytes"] / 2**20, ".1f")),
        ("step memory (MiB)", lambda r: number(r["step_mem_bytes"] / 2**20, ".1f")),
        ("compile (s)", lambda r: number(r["compile_s"], ".3f")),
    ] + ([("TF32", lambda r: r["tf32"])] if (ok["device"] == "cuda").any() else []) + [
        ("unstable", lambda r: "unstable" if r["unstable"] else ""),
    ]
    rows = [[cell(r) for _, cell in columns] for _, r in ok.iterrows()]
    references = [f"`{fw}` is {reference_text(fw)}: a reference run beside the three frameworks, not one of them."
                  for fw in dict.fromkeys(ok["framework"]) if reference_text(fw)]
    intro = " ".join(["Time per batch over the timed steps; images/s and GFLOP/s at the median. Peak memory: the "
                      "worker process's peak resident set on CPU, the framework allocator's peak on GPU; step memory: "
                      "how far the steps took it above what was in use just before the first step.", *references])
    return section("Results", intro, [name for name, _ in columns], rows)


def _scaling(ok: pd.DataFrame) -> list[str]:
    """Distributed cases: global throughput, scaling efficiency, and what share of a step communication takes."""
    ranks = ok[ok["parallel"] != "none"]
    if ranks.empty:
        return []
    mib = 2**20
    columns = [("framework", lambda r: r["framework"]), ("parallel", lambda r: r["parallel"]),
               ("mode", lambda r: r["mode"]), ("LRN", lambda r: lrn_text(r["lrn"])),
               ("workers", lambda r: f"{int(r['workers'])}" + (f" on {int(r['nodes'])} nodes" * (r["nodes"] > 1))),
               ("global batch", lambda r: str(int(r["global_batch"]))), ("median (ms)", lambda r: ms(r["median_s"])),
               ("images/s", lambda r: number(r["images_per_s"], ",.1f")),
               ("efficiency", lambda r: percent(r["scaling_efficiency"])),
               ("collectives alone (ms)", lambda r: ms(r["allreduce_s"])),
               ("share of the step", lambda r: percent(r["comm_share"])),
               ("MiB sent per step, per worker", lambda r: number(r["comm_bytes"] / mib, ",.1f")),
               ("parameters + optimizer (MiB per worker)",
                lambda r: f"{number(r['param_bytes'] / mib, ',.1f')} + {number(r['optimizer_bytes'] / mib, ',.1f')}"),
               ("engine", lambda r: r["comm_backend"])]
    rows = [[cell(r) for _, cell in columns] for _, r in ranks.sort_values(["framework", "parallel", "mode",
                                                                               "workers"]).iterrows()]
    intro = ("Each case ran as N ranks of its framework's own engine, each on its own cores (or GPU) with the batch "
             "size per worker (weak scaling); a step's time is its slowest rank's. Efficiency: images/s over N times "
             "the one-worker case's (same threads per worker). Collectives alone: the median time of the step's "
             "collectives (for dp the all-reduce of every gradient) on buffers of their sizes, same engine, same "
             "processes; its share of the step is what communication would cost if nothing overlapped it. Bytes "
             "sent: from the sizes of the tensors each collective moves, as a ring sends them. `forward` runs "
             "without communication.")
    return section("Scaling out", intro, [name for name, _ in columns], rows)


def _problems(failed: pd.DataFrame, extras: list[str]) -> list[str]:
    rows = [[case_label(r, extras), r["status"], r["error"]] for _, r in failed.iterrows()]
    intro = ("`unsupported`: the framework or device cannot run this combination, for the reason given; "
             "`unavailable`: the framework or device is not there; the other statuses are failures.")
    return section("Cases without a result", intro, ["case", "status", "reason or error"], rows) if rows else []


def _seed(ok: pd.DataFrame, extras: list[str]) -> list[str]:
    ours = ok[~ok["heads"] & (ok["precision"] == "fp32")]
    rows = []
    for (mode, lrn), seconds in SEED_GPU_SECONDS.items():
        matching = ours[(ours["mode"] == mode) & (ours["lrn"] == lrn)]
        seed = [mode, lrn_text(lrn), f"{seconds} s ({seconds * 1e3:g} ms)"]
        if matching.empty:
            rows.append(seed + ["not measured in this run", "", "", ""])
        for i, (_, r) in enumerate(matching.iterrows()):
            rows.append((seed if i == 0 else ["", "", ""]) + [
                case_label(r, extras, parts=("framework",)), str(int(r["batch_size"])),
                r["device_name"] or r["device"], f"{ms(r['mean_s'])} ± {ms(r['std_s'])}"])
    intro = ("The seed program printed these seconds per batch on its own GPU in 2016 (batch 32, 224x224, "
             "conv1 to pool5, fp32). They are the seed's numbers on the seed's hardware, not measurements of this "
             "run; ours differ in machine, software and often batch size.")
    header = ["mode", "LRN", "the seed's figure (its GPU, 2016, batch 32)", "this run: framework", "batch",
              "device", "mean ± sd (ms)"]
    return section("The seed's published figures, beside ours", intro, header, rows)


def _figures(run: Path, pngs: list[Path]) -> list[str]:
    lines = ["## Figures", ""]
    for png in pngs:
        lines += [f"### {TITLES[png.stem]}", "", f"![{png.stem}]({png.relative_to(run).as_posix()})", ""]
    return lines if pngs else []


def write_report(run_dir: str | Path) -> Path:
    """Draw the figures and write ``<run>/report.md``; returns its path."""
    run = Path(run_dir)
    summary, _, env = read_run(run)
    pngs = make_figures(run)
    summary = sort_cases(summary)
    ok, failed = summary[summary["status"] == "ok"], summary[summary["status"] != "ok"]
    extras = varied(summary)
    lines = [f"# alexbench run {env.get('run_id', run.name)}", ""] + _environment(summary, env) + \
        _notes(summary, env)
    if not ok.empty:
        lines += _results(ok, varied(ok)) + _scaling(ok) + ranking.fastest(ok) + ranking.best_variants(ok) + \
            ranking.seed_program(ok)
    lines += _seed(ok, extras) + _problems(failed, extras) + _figures(run, pngs)
    path = run / REPORT
    write_atomic(path, "\n".join(lines))
    return path
