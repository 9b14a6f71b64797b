"""What each command shows in the terminal, as tables and lines (harness.present.terminal prints them)."""

from __future__ import annotations

import numpy as np
from rich.markup import escape

from harness.analysis.ab import ABResult
from harness.analysis.compare import CompareResult
from harness.analysis.parity import TOLERANCE, ParityResult
from harness.results.stats import peak_rate

from .tables import Table


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def run_tables(rows: list[dict]) -> list[Table]:
    """Per model setting: rows framework (and workers, for a distributed setting), columns mode; mean +/- sd,
    median, ratio to the fastest; for workers also global images/s and scaling efficiency."""
    ok = [r for r in rows if r["status"] == "ok"]
    groups: dict[tuple, list[dict]] = {}
    for r in ok:
        key = (r["lrn"], r["heads"], r["batch_size"], r["image_size"], r["variant"], r["precision"], r["layout"],
               r["parallel"], r["nodes"])
        groups.setdefault(key, []).append(r)
    tables = []
    for (lrn, heads, batch, size, variant, precision, layout, parallel, nodes), group in groups.items():
        modes = sorted({r["mode"] for r in group})
        fastest = {m: min(r["median_s"] for r in group if r["mode"] == m) for m in modes}
        ranks = parallel != "none"
        where = f", {parallel} over {nodes} node{'s' * (nodes > 1)}" if ranks else ""
        title = (f"LRN {'on' if lrn else 'off'}{', FC heads' if heads else ''}, batch {batch}"
                 f"{' per worker' if ranks else ''}, {size}x{size}, {precision}, {variant} variant, {layout}{where}: "
                 "ms per batch")
        per_mode = ("mean +/- sd", "median", "x fastest") + (("images/s", "efficiency") if ranks else ())
        table = Table(["framework"] + [f"{m}\n{h}" if i == 0 else h for m in modes for i, h in enumerate(per_mode)],
                      title=title)
        for fw, workers in sorted({(r["framework"], r["workers"]) for r in group}):
            cells = [f"{fw} x{workers}" if ranks else fw]
            for m in modes:
                r = next((r for r in group if (r["framework"], r["workers"], r["mode"]) == (fw, workers, m)), None)
                if r is None:
                    cells += ["-"] * len(per_mode)
                    continue
                flag = " [yellow](unstable)[/]" if r["unstable"] else ""
                cells += [f"{_ms(r['mean_s'])} +/- {_ms(r['std_s'])}{flag}", _ms(r["median_s"]),
                          f"{r['median_s'] / fastest[m]:.2f}"]
                if ranks:
                    efficiency = r.get("scaling_efficiency")
                    cells += [f"{r['images_per_s']:.1f}",
                              "-" if efficiency is None or efficiency != efficiency else f"{efficiency:.0%}"]
            table.rows.append(cells)
        tables.append(table)
    return tables


def problem_lines(rows: list[dict]) -> list[str]:
    """One red line per case that did not run: its setting, status and the first line of its error."""
    lines = []
    for r in rows:
        if r["status"] != "ok":
            error = "".join(str(r["error"]).splitlines()[:1])[:160]
            ranks = f" x{r['workers']} {r['parallel']}" if r.get("parallel", "none") != "none" else ""
            line = (f"{r['framework']} {r['variant']} {r['mode']} lrn={'on' if r['lrn'] else 'off'} "
                    f"{r['precision']} {r['layout']} b{r['batch_size']} {r['image_size']}px{ranks}: {r['status']} - "
                    f"{error}")
            lines.append(f"[red]{escape(line)}[/]")
    return lines


def peak_lines(peaks: dict[str, dict]) -> list[str]:
    """One line per framework: matmul and conv GFLOP/s (median of steps, best step), then the machine's rate."""
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
        lines.append(f"machine peak (best median): {peak_rate(ok):.1f} GFLOP/s")
    return lines


def compare_view(result: CompareResult, chart: str) -> list[Table | str]:
    """The comparison: the runs, warnings, a row per common case, the cases in one run only, the verdict."""
    table = Table(["case", "median A (ms)", "median B (ms)", "B/A", "p", "significant"])
    for _, r in result.table.iterrows():
        verdict = ("slower" if r["ratio"] > 1 else "faster") if r["significant"] else "no"
        table.rows.append([r["case"], f"{r['median_a_s'] * 1e3:.2f}", f"{r['median_b_s'] * 1e3:.2f}",
                           f"{r['ratio']:.3f}x", "–" if np.isnan(r["p_value"]) else f"{r['p_value']:.2g}", verdict])
    shown = [f"A: {result.run_a}", f"B: {result.run_b}"] + [f"warning: {w}" for w in result.warnings] + [table]
    shown += [f"only in A: {c}" for c in result.only_a] + [f"only in B: {c}" for c in result.only_b]
    shown.append(f"chart: {chart}")
    if result.fail_above is not None:
        failing = result.failing
        shown.append(f"--fail-above {result.fail_above:g}: {len(failing)} significant slowdown(s) above it, "
                     f"exit code {result.exit_code}")
        shown += [f"  {r['case']}: {r['ratio']:.3f}x" for _, r in failing.iterrows()]
    return shown


def ab_view(title: str, name_a: str, name_b: str, results: list[ABResult]) -> list[Table | str]:
    """The comparison table, a row per mode, and what each column means."""
    words = {"slower": f"{name_a} is slower", "faster": f"{name_a} is faster",
             "same": "no difference at p < 0.01"}
    table = Table(["mode", "A ms", "B ms", "A/B", "A faster", "p", "verdict"], title=title, align="lrrrrrl")
    for r in results:
        table.rows.append([r.mode, f"{r.median_a * 1e3:.1f}", f"{r.median_b * 1e3:.1f}",
                           f"{r.median_a / r.median_b:.3f}", f"{int(np.sum(r.ratios < 1))}/{len(r.ratios)}",
                           f"{r.p_value:.2g}", words[r.verdict]])
    return [table, f"A = {name_a}, B = {name_b}; ms: medians of every timed step; A faster: rounds where A's median "
                   "was lower; p: Wilcoxon signed-rank on the rounds' ratios"]


def flips_text(flips) -> str:
    """``fc6 ReLU (1 position, margin 4.2e-06), pool2 max-pool (2, margin 3e-05)``: where float32 branched."""
    by_layer: dict[tuple[int, str], list] = {}
    for f in flips:
        by_layer.setdefault((f.step, f.layer), []).append(f)
    parts = []
    for (step, layer), group in by_layer.items():
        kind = "max-pool window" if layer.startswith("pool") else "ReLU"
        when = f" in training step {step + 1}" if any(f.step for f in flips) else ""
        margin = min(f.margin for f in group)
        parts.append(f"{layer} {kind}{when}: {len(group)} position{'s' * (len(group) > 1)}, margin {margin:.1e}")
    return "; ".join(parts)


def parity_verdict(r: ParityResult) -> str:
    """One line: pass, pass but for the data's branch decisions (which, and how well they explain it), or FAIL."""
    if r.passed:
        return f"{r.name}: pass (max {max(r.errors.values()):.2e})"
    if r.status != "ok":
        return f"{r.name}: {r.status}: {escape(r.message)}"
    worst = max(r.errors.values())
    if r.explained:
        return (f"{r.name}: pass, but for the data (max {worst:.2e} as computed): float32 took the other branch "
                f"where float64's decision was within rounding ({flips_text(r.flips)}, margins relative to the "
                f"layer's scale); with those branches the reference agrees to {max(r.explained_errors.values()):.2e}")
    near = f"; near-ties tried, not enough: {flips_text(r.flips)}" if r.flips else ""
    return f"{r.name}: FAIL (max {worst:.2e}){near}"


def parity_view(results: list[ParityResult]) -> list[Table | str]:
    """Tensors down, backends across, relative errors, a mismatch marked (``*`` where the data explains it);
    then a verdict per backend."""
    ran = [r for r in results if r.status == "ok"]
    shown: list[Table | str] = []
    if ran:
        table = Table(["tensor"] + [r.name for r in ran])
        for t in ran[0].errors:
            table.rows.append([t] + [f"{r.errors[t]:.2e}{_mark(r, t)}" for r in ran])
        shown.append(table)
    shown += [parity_verdict(r) for r in results]
    tolerance = results[0].tolerance if results else TOLERANCE
    shown.append(f"relative error ||a-b||/||b|| against the float64 NumPy reference; tolerance {tolerance:g}; "
                 "!: over it; *: over it only where float32 takes another branch than float64")
    return shown


def _mark(r: ParityResult, tensor: str) -> str:
    if r.errors[tensor] <= r.tolerance:
        return " "
    return "*" if r.explained else "!"
