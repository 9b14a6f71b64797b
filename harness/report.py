"""``<run>/report.md``: environment, results table, fastest framework, problems, figures, the seed's figures.

Every number is summary.csv's value, formatted: milliseconds with 2 decimals, rates with 1,
memory in MiB with 1, compile time in seconds with 3.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .chartstyle import SEED_GPU_SECONDS, case_label, device_text, extra_text, lrn_text, sort_cases, varied
from .plots import TITLES, make_figures, pct_of_peak
from .results import read_run, write_atomic

REPORT = "report.md"
BLANK = "–"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def _number(value: float, fmt: str) -> str:
    return BLANK if pd.isna(value) else format(value, fmt)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows] + [""]


def _section(heading: str, intro: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return [f"## {heading}", ""] + ([intro, ""] if intro else []) + _table(header, rows)


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
    ]
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


def _setting(extras: list[str]) -> list[tuple]:
    """The "setting" column (variant, batch size... when they vary), or no column."""
    return [("setting", lambda r: extra_text(r, extras))] if extras else []


def _results(ok: pd.DataFrame, extras: list[str]) -> list[str]:
    peak = pct_of_peak(ok)
    columns = [("framework", lambda r: r["framework"]), ("mode", lambda r: r["mode"]),
               ("LRN", lambda r: lrn_text(r["lrn"]))] + _setting(extras) + [
        ("mean ± sd (ms)", lambda r: f"{ms(r['mean_s'])} ± {ms(r['std_s'])}"),
        ("median (ms)", lambda r: ms(r["median_s"])),
        ("images/s", lambda r: _number(r["images_per_s"], ".1f")),
        ("GFLOP/s", lambda r: _number(r["gflops_per_s"], ".1f")),
    ] + ([("% of peak", lambda r: _number(peak[r.name], ".1f"))] if peak is not None else []) + [
        ("peak memory (MiB)", lambda r: _number(r["peak_mem_bytes"] / 2**20, ".1f")),
        ("compile (s)", lambda r: _number(r["compile_s"], ".3f")),
        ("unstable", lambda r: "unstable" if r["unstable"] else ""),
    ]
    rows = [[cell(r) for _, cell in columns] for _, r in ok.iterrows()]
    return _section("Results", "Time per batch over the timed steps; images/s and GFLOP/s at the median.",
                    [name for name, _ in columns], rows)


def _fastest(ok: pd.DataFrame, extras: list[str]) -> list[str]:
    columns = [("mode", lambda r: r["mode"]), ("LRN", lambda r: lrn_text(r["lrn"]))] + _setting(extras) + [
        ("fastest", lambda r: r["framework"]), ("median (ms)", lambda r: ms(r["median_s"]))]
    rows = []
    for _, group in ok.groupby(["mode", "lrn", *extras], sort=False):
        ranked = group.sort_values("median_s")
        best = ranked.iloc[0]
        others = [f"{r['framework']} {r['median_s'] / best['median_s']:.2f}x"
                  for _, r in ranked[1:].iterrows()]
        rows.append([cell(best) for _, cell in columns] + [", ".join(others) or BLANK])
    return _section("Fastest framework", "By median time per batch; the others as multiples of the fastest.",
                    [name for name, _ in columns] + ["others (x fastest)"], rows)


def _problems(failed: pd.DataFrame, extras: list[str]) -> list[str]:
    rows = [[case_label(r, extras), r["status"], r["error"]] for _, r in failed.iterrows()]
    return _section("Cases without a result", "", ["case", "status", "error"], rows) if rows else []


def _seed(ok: pd.DataFrame, extras: list[str]) -> list[str]:
    ours = ok[~ok["heads"]]
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
             "conv1 to pool5). They are the seed's numbers on the seed's hardware, not measurements of this "
             "run; ours differ in machine, software and often batch size.")
    header = ["mode", "LRN", "the seed's figure (its GPU, 2016, batch 32)", "this run: framework", "batch",
              "device", "mean ± sd (ms)"]
    return _section("The seed's published figures, beside ours", intro, header, rows)


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
        lines += _results(ok, extras) + _fastest(ok, extras)
    lines += _seed(ok, extras) + _problems(failed, extras) + _figures(run, pngs)
    path = run / REPORT
    write_atomic(path, "\n".join(lines))
    return path
