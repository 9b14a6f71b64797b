"""Running ``alexbench`` as a user does, in a subprocess, with the fake backends registered; or, for what is
checked before any work starts, ``main(argv)`` in the test's own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from harness.cli import main
from tests.fake_backend import PLUGINS

ROOT = Path(__file__).resolve().parent.parent


def ctrl_c_reaches_it() -> None:
    """Popen's ``preexec_fn`` for a child that a test interrupts with SIGINT: a shell without job control starts
    background commands with SIGINT ignored, children inherit that, and Python then leaves it ignored; so a
    test run started in the background would see Ctrl-C do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, ALEXBENCH_BACKENDS=PLUGINS, PYTHONPATH=str(ROOT), **extra)


def run_main(capsys, *argv: str) -> SimpleNamespace:
    """``alexbench ARGV`` in this process: its exit code, stdout and stderr."""
    code = main(list(argv))
    out = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


def alexbench(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=cli_env(**env), cwd=ROOT, timeout=timeout)


def tiny_run(out: Path, frameworks: str, *extra: str, **env: str) -> subprocess.CompletedProcess:
    """A few steps at a small size, without the peak measurement."""
    return alexbench("run", "--frameworks", frameworks, "--batch-size", "1", "--image-size", "66",
                     "--burn-in", "1", "--steps", "3", "--peak-seconds", "0", "--out", str(out), *extra, **env)


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run
