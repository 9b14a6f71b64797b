"""A run's folder: created once (never over an existing one), filled case by case.

summary.csv and steps.csv are rewritten atomically after every case, so they are always
valid and hold every finished case; env.json records the planned cases, so an
interrupted run can be resumed in the same folder.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from harness.core.cases import Case, key_of
from harness.core.errors import UserError
from harness.core.files import write_json
from harness.measure.launch import Outcome

from .rows import fill_scaling_efficiency, layer_rows, step_rows, summary_row
from .schema import (
    ENV_JSON,
    FORMAT_VERSION,
    LAYERS_COLUMNS,
    LAYERS_CSV,
    RUN_LOG,
    STEPS_COLUMNS,
    STEPS_CSV,
    SUMMARY_COLUMNS,
    SUMMARY_CSV,
)
from .tables import ResultsError, read_env, read_table, write_table

LABEL_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def run_id(label: str | None, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{label}" if label else stamp


class RunFolder:
    """The files of one run and the rows written so far."""

    def __init__(self, path: Path, env: dict, summary: list[dict], steps: list[dict], layers: list[dict]):
        self.path, self.env, self.summary, self.steps, self.layers = path, env, summary, steps, layers
        self.started = time.monotonic()

    @classmethod
    def create(cls, root: Path, label: str | None, env: dict, cases: list[Case]) -> RunFolder:
        path = root / run_id(label)
        try:
            root.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except FileExistsError:
            raise UserError(f"run folder {path} already exists; wait a second or choose another --label") from None
        except OSError as e:
            raise UserError(f"cannot create the run folder {path}: {e.strerror}") from None
        env = env | {"format_version": FORMAT_VERSION, "run_id": path.name, "started": datetime.now(UTC).isoformat(),
                     "finished": None, "interrupted": False, "cases": [c.to_dict() for c in cases]}
        folder = cls(path, env, [], [], [])
        folder.flush()
        return folder

    @classmethod
    def resume(cls, path: Path) -> RunFolder:
        """The folder of an interrupted run, its rows read back; its files are rewritten in today's format."""
        try:
            env = read_env(path)
            planned = env["cases"]
        except (ResultsError, OSError, KeyError, TypeError):
            raise UserError(f"{path} is not a resumable run folder (no readable {ENV_JSON} with its cases)") from None
        if not isinstance(planned, list):
            raise ResultsError(f"{path / ENV_JSON}: 'cases' is not a list")
        env["resumed"] = env.get("resumed", 0) + 1
        env["format_version"] = FORMAT_VERSION

        def rows(name: str, columns: list[str]) -> list[dict]:
            return read_table(path / name, columns).to_dict("records") if (path / name).exists() else []

        return cls(path, env, rows(SUMMARY_CSV, SUMMARY_COLUMNS), rows(STEPS_CSV, STEPS_COLUMNS),
                   rows(LAYERS_CSV, LAYERS_COLUMNS))

    def planned(self) -> list[Case]:
        return [Case.from_dict(c) for c in self.env["cases"]]

    def missing(self) -> list[Case]:
        """Planned cases with no summary row yet."""
        done = {key_of(r) for r in self.summary}
        return [c for c in self.planned() if c.key() not in done]

    def layer_cases(self) -> list[Case]:
        """With ``--per-layer``: one forward case per planned setting whose layers are not timed yet."""
        if not self.env.get("per_layer"):
            return []
        done = {key_of(r | {"mode": "forward"}) for r in self.layers}
        settings = dict.fromkeys(replace(c, mode="forward") for c in self.planned()
                                 if c.mode != "train_step" and not c.distributed)
        return [c for c in settings if c.key() not in done]

    def record_layers(self, case: Case, outcome: Outcome) -> list[dict]:
        """Add one layers job's rows (none if it failed; its log says why) and rewrite layers.csv."""
        rows = layer_rows(case, outcome.result)
        self.layers.extend(rows)
        self.log(f"===== per-layer {case.label()}: {outcome.result['status']} =====\n{outcome.stderr}")
        self.flush()
        return rows

    def record(self, case: Case, outcome: Outcome) -> dict:
        """Add one finished case (rows and log) and rewrite the files."""
        row = summary_row(case, outcome.result, self.env.get("busy", False), self.env.get("peak_gflops"))
        if "describe" in outcome.result:  # versions, device, CUDA/cuDNN and TF32 as the worker saw them
            variants = self.env.setdefault("backends", {}).setdefault(case.framework, {})
            variants[case.variant] = outcome.result["describe"]
        self.summary.append(row)
        self.steps.extend(step_rows(case, outcome.result))
        with open(self.path / RUN_LOG, "a") as log:
            log.write(f"===== {case.label()}: {row['status']} =====\n{outcome.stderr}\n")
        self.flush()
        return row

    def log(self, text: str) -> None:
        with open(self.path / RUN_LOG, "a") as log:
            log.write(text + "\n")

    def flush(self) -> None:
        fill_scaling_efficiency(self.summary)
        write_table(self.path / SUMMARY_CSV, self.summary, SUMMARY_COLUMNS)
        write_table(self.path / STEPS_CSV, self.steps, STEPS_COLUMNS)
        if self.layers:
            write_table(self.path / LAYERS_CSV, self.layers, LAYERS_COLUMNS)
        write_json(self.path / ENV_JSON, self.env)

    def finish(self, interrupted: bool, harness: dict) -> None:
        self.env |= {"finished": datetime.now(UTC).isoformat(), "interrupted": interrupted, "harness": harness}
        self.flush()
