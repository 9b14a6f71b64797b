"""``make gpu-check``, the check a lent GPU machine runs, here on the CPU at tiny sizes so that it cannot rot."""

import subprocess
import sys
import tarfile

import pytest

from tests.clitools import ROOT


@pytest.mark.slow
def test_the_gpu_check_runs_here_on_the_cpu(tmp_path):
    done = subprocess.run(["make", "-s", "gpu-check", f"OUT={tmp_path}", "DEVICE=cpu", f"PYTHON={sys.executable}",
                           "GPU_RUN_SECONDS=120"], capture_output=True, text=True, cwd=ROOT, timeout=1500)
    log = (tmp_path / "gpu-check.log").read_text()
    assert done.returncode == 0, log[-3000:] + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu-check.log", "gpu-check.tar.gz"]  # 2 of the 8 files
    for line in ("torch: pass", "torch tuned: pass", "jax: pass", "parity with TF32 on: skipped, TF32 is a GPU setting",
                 "torch: in bf16, max"):
        assert line in log, line
    with tarfile.open(tmp_path / "gpu-check.tar.gz") as archive:
        names = archive.getnames()
    run = next(n for n in names if n.endswith("summary.csv")).rsplit("/", 1)[0]
    assert "gpu-check/env.json" in names and f"{run}/report.md" in names and f"{run}/figures/latency.png" in names
