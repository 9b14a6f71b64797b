"""The commands that read run folders: ``report``, ``targets`` and ``compare``."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.compare import compare_runs
from harness.analysis.targets import check
from harness.present import terminal, views
from harness.present.charts.comparechart import ratio_chart
from harness.present.report import write_report
from harness.results.tables import newest_run

from .options import FAIL_ABOVE, Checks


def _run_dir(text: str | None) -> Path:
    return Path(text) if text else newest_run()


def cmd_report(args) -> int:
    print(f"report: {write_report(_run_dir(args.run_dir))}")
    return 0


def cmd_targets(args) -> int:
    lines, met = check(_run_dir(args.run_dir))
    print("\n".join(lines))
    return 0 if met else 1


def cmd_compare(args) -> int:
    checks = Checks()
    fail_above = checks.value(FAIL_ABOVE, args.fail_above)
    checks.done()
    result = compare_runs(args.run_a, args.run_b, fail_above)
    terminal.show(views.compare_view(result, ratio_chart(result)))
    return result.exit_code
