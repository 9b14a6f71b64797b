"""The house's floors: the import contracts hold, workers load no analysis or plotting library, every backend
implements the whole protocol, and the results format is versioned and read back across versions."""

import json
import shutil
import subprocess
import sys

import pytest

import frameworks
from frameworks.base import PROTOCOL_METHODS
from frameworks.distributed import DISTRIBUTED_METHODS
from harness.analysis.compare import compare_runs
from harness.measure.ranks import run_case
from harness.present.report import write_report
from harness.results.schema import ENV_JSON, FORMAT_VERSION, SUMMARY_CSV
from harness.results.tables import ResultsError, read_run
from tests.clitools import ROOT, only_run, tiny_run
from tests.fake_backend import GROW_BYTES

HEAVY = ("pandas", "scipy", "matplotlib")
FORMAT1 = ROOT / "tests" / "fixtures" / "run-format1"
LINT_IMPORTS = ROOT / ".venv" / "bin" / "lint-imports"


def test_the_import_contracts_hold():
    linter = LINT_IMPORTS if LINT_IMPORTS.exists() else shutil.which("lint-imports")
    done = subprocess.run([str(linter), "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def _loaded_by(code: str) -> list[str]:
    """The heavy libraries a fresh process has loaded after running ``code``."""
    probe = f"{code}\nimport sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def _bench_job(framework: str, tmp_path) -> str:
    """A worker's whole life, ``harness.measure.worker.main`` on a tiny bench job, as Python source."""
    case = {"framework": framework, "mode": "forward_backward", "batch_size": 1, "image_size": 66, "burn_in": 0,
            "steps": 1}
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"kind": "bench", "case": case}))
    result = tmp_path / "result.json"
    return f"from harness.measure.worker import main; main([{str(job)!r}, {str(result)!r}])"


def test_a_worker_loads_no_pandas_scipy_or_matplotlib(tmp_path):
    assert _loaded_by(_bench_job("fake-sleep", tmp_path)) == []
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["tensorflow", "torch", "jax"])
def test_a_framework_worker_loads_only_what_its_framework_does(tmp_path, framework):
    """TensorFlow itself imports Keras, which imports pandas and matplotlib (and its legacy layers SciPy): what
    its worker loads beyond that is the harness's, and must be nothing."""
    if framework not in frameworks.available():
        pytest.skip(f"{framework} not installed")
    module = frameworks.entry(framework).target.split(":")[0]
    assert _loaded_by(_bench_job(framework, tmp_path)) == _loaded_by(f"import {module}")
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "ok"


@pytest.mark.slow
def test_every_backend_class_implements_the_whole_protocol():
    """Each registered backend class has every method of the Backend protocol; each distributed one those of the
    DistributedBackend protocol too."""
    names = [n for n in frameworks.NAMES if frameworks.entry(n).target.startswith("frameworks.")]
    code = ("import frameworks; from frameworks.base import PROTOCOL_METHODS as P\n"
            "from frameworks.distributed import DISTRIBUTED_METHODS as D\n"
            "def missing(cls, methods): return [m for m in methods if not callable(getattr(cls, m, None))]\n"
            f"for n in {names!r}:\n"
            "    if frameworks.missing_message(n) is None:\n"
            "        print(n, missing(frameworks.backend_class(n), P))\n"
            "        if frameworks.entry(n).distributed:\n"
            "            print(n + '-distributed', missing(frameworks.distributed_class(n), P + D))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    checked = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert checked and all(missing == "[]" for missing in checked.values()), checked
    assert {"torch-distributed", "jax-distributed", "tensorflow-distributed"} <= set(checked)
    assert len(PROTOCOL_METHODS) >= 14 and len(DISTRIBUTED_METHODS) == 6


def test_step_memory_is_what_the_steps_add(tmp_path):
    from harness.core.cases import Case
    result = run_case(Case("fake-grow", "forward", batch_size=1, image_size=66, burn_in=1, steps=3), 60).result
    assert result["status"] == "ok", result
    assert GROW_BYTES <= result["step_mem_bytes"] < 2 * GROW_BYTES
    assert result["peak_mem_bytes"] >= result["step_mem_bytes"]
    quiet = run_case(Case("fake-sleep", "forward", batch_size=1, image_size=66, burn_in=1, steps=3), 60).result
    assert quiet["step_mem_bytes"] < GROW_BYTES / 4


def test_a_new_run_records_its_format_and_step_memory(tmp_path):
    assert tiny_run(tmp_path, "fake-sleep", "--modes", "forward", "--lrn", "on").returncode == 0
    run = only_run(tmp_path)
    summary, _, env = read_run(run)
    assert env["format_version"] == FORMAT_VERSION
    assert summary["step_mem_bytes"].notna().all()


def test_a_format_1_run_is_still_read_reported_and_compared(tmp_path):
    run = shutil.copytree(FORMAT1, tmp_path / FORMAT1.name)
    summary, steps, env = read_run(run)
    assert "format_version" not in env and summary["step_mem_bytes"].isna().all()
    assert set(summary["status"]) == {"ok", "failed"} and len(steps)
    report = write_report(run).read_text()
    assert "torch" in report and (run / "figures" / "layers.png").is_file()
    result = compare_runs(run, run)
    assert len(result.table) == 8 and not result.table["significant"].any()


def test_a_newer_format_is_refused_in_one_line(tmp_path):
    run = shutil.copytree(FORMAT1, tmp_path / FORMAT1.name)
    env = json.loads((run / ENV_JSON).read_text()) | {"format_version": FORMAT_VERSION + 1}
    (run / ENV_JSON).write_text(json.dumps(env))
    with pytest.raises(ResultsError, match=f"results format {FORMAT_VERSION + 1}; this alexbench reads formats up"):
        read_run(run)
    assert (run / SUMMARY_CSV).is_file()
