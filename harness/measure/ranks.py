"""Starting the ranks of a distributed case on this node, and ending them all, whatever happens.

Each rank is a worker process (harness.measure.worker) with the launch variables the frameworks know in its
environment: torchrun's (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) and, for
TensorFlow, TF_CONFIG. Each runs in its own session and dies with the launching process (the worker sets Linux's
parent-death signal), so none outlives the case: when one rank fails, crashes or reports an error, when the timeout
passes, or when the launcher is interrupted, every rank of the case on this node is killed at once.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from frameworks.distributed import tf_config
from harness.core.cases import Case

from .jobs import READY
from .launch import WORKER, Outcome, death_outcome, run_worker
from .threads import worker_env

POLL_S = 0.05
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Rendezvous:
    """Where the ranks of a case meet: the coordinator (node 0's host and its port for this case), this node's
    place among the nodes, and the host of every node (TF_CONFIG lists every worker's address; a worker listens
    on the port after the coordinator's plus its rank)."""

    master_addr: str
    master_port: int
    nodes: int = 1
    node_rank: int = 0
    hosts: tuple[str, ...] = ()

    def host_of(self, node: int) -> str:
        return self.hosts[node] if self.hosts else self.master_addr

    def tf_workers(self, world_size: int) -> list[str]:
        per_node = world_size // self.nodes
        return [f"{self.host_of(r // per_node)}:{self.master_port + 1 + r}" for r in range(world_size)]


def free_port(host: str = LOOPBACK, span: int = 1) -> int:
    """A port on ``host`` such that it and the ``span - 1`` after it are free now."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port + span < 65536 and all(port_is_free(host, p) for p in range(port, port + span)):
            return port
    raise OSError(f"no {span} free ports in a row on {host}")


def port_is_free(host: str, port: int) -> bool:
    """False only when something listens on ``port`` of ``host`` already (a host not of this machine: True)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            return e.errno != errno.EADDRINUSE
    return True


def local_rendezvous(world_size: int) -> Rendezvous:
    """One node: free ports on the loopback address, picked now."""
    return Rendezvous(LOOPBACK, free_port(LOOPBACK, 1 + world_size))


@dataclass(frozen=True)
class Launch:
    """Where a run's distributed cases meet: on one node free loopback ports per case; with a coordinator, its
    host and the ports from its port on, ``stride`` ports per case (the case's index in the plan decides: every
    node plans the same cases)."""

    coordinator: tuple[str, int] | None = None
    node_rank: int = 0
    hosts: tuple[str, ...] = ()
    stride: int = 2

    def rendezvous(self, case: Case, index: int) -> Rendezvous:
        if self.coordinator is None:
            return local_rendezvous(case.workers)
        host, port = self.coordinator
        return Rendezvous(host, port + index * self.stride, case.nodes, self.node_rank, self.hosts)

    @classmethod
    def of(cls, settings: dict, cases: list[Case]) -> Launch:
        coordinator = settings.get("coordinator")
        host, _, port = (coordinator or "").rpartition(":")
        hosts = tuple(h.strip() for h in (settings.get("hosts") or "").split(",") if h.strip())
        return cls((host, int(port)) if coordinator else None, int(settings.get("node_rank") or 0), hosts,
                   1 + max(c.workers for c in cases))

    def to_dict(self) -> dict:
        return {"coordinator": ":".join(map(str, self.coordinator)) if self.coordinator else None,
                "node_rank": self.node_rank, "hosts": ",".join(self.hosts) or None}


def rank_env(case: Case, rendezvous: Rendezvous, local_rank: int) -> dict[str, str]:
    """The environment of one local rank: the launch variables, TF_CONFIG, thread caps, its GPU."""
    local = case.workers // case.nodes
    rank = rendezvous.node_rank * local + local_rank
    env = worker_env(case.threads) | {
        "MASTER_ADDR": rendezvous.master_addr, "MASTER_PORT": str(rendezvous.master_port), "RANK": str(rank),
        "WORLD_SIZE": str(case.workers), "LOCAL_RANK": str(local_rank), "LOCAL_WORLD_SIZE": str(local),
        "TF_CONFIG": tf_config(rendezvous.tf_workers(case.workers), rank)}
    return env


@dataclass
class _Rank:
    rank: int
    proc: subprocess.Popen
    result: Path
    stderr: Path
    ready: bool = False  # joined its group

    def read(self, on_progress: Callable[[int], None] | None) -> None:
        """Follow the rank's stdout: its progress, and when it has joined its group."""
        for line in self.proc.stdout:
            if line.startswith(READY):
                self.ready = True
            elif line.startswith("@progress ") and on_progress is not None:
                on_progress(int(line.split()[1]))

    def result_json(self) -> dict | None:
        return json.loads(self.result.read_text()) if self.result.exists() else None


def _first_failure(ranks: list[_Rank]) -> Outcome | None:
    """The outcome of the rank that went wrong first, the cause rather than its peers' broken connections: of
    the ranks that reported a status other than ok (dated by their result file) or died without a result (dated
    by their last words on stderr), the earliest."""
    failures = []
    for r in ranks:
        code, result = r.proc.poll(), r.result_json()
        if result is not None and result["status"] != "ok":
            failures.append((r.result.stat().st_mtime_ns, r.rank,
                             result | {"error": f"rank {r.rank}: {result.get('error', '')}"}))
        elif result is None and code is not None:
            died = death_outcome(code, r.stderr.read_text(), who=f"rank {r.rank}").result
            failures.append((r.stderr.stat().st_mtime_ns, r.rank, died))
    return Outcome(min(failures, key=lambda f: f[:2])[2], _stderr(ranks)) if failures else None


def run_ranks(job: dict, case: Case, rendezvous: Rendezvous, timeout: float,
              on_progress: Callable[[int], None] | None = None) -> Outcome:
    """Run ``job`` as this node's ranks of ``case``; the outcome is global rank 0's result (on node 0), or ok on
    another node when all of its ranks were. Never raises for a rank's fault, only for an interrupt."""
    local = case.workers // case.nodes
    with tempfile.TemporaryDirectory(prefix="alexbench-ranks-") as tmp:
        job_path = Path(tmp) / "job.json"
        job_path.write_text(json.dumps(job | {"timeout": timeout}))
        ranks: list[_Rank] = []
        try:
            for local_rank in range(local):
                rank = rendezvous.node_rank * local + local_rank
                result, err = Path(tmp) / f"result{rank}.json", Path(tmp) / f"stderr{rank}"
                with open(err, "w") as stderr:
                    proc = subprocess.Popen([sys.executable, "-m", WORKER, str(job_path), str(result)],
                                            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True,
                                            env=rank_env(case, rendezvous, local_rank), start_new_session=True)
                ranks.append(_Rank(rank, proc, result, err))
                threading.Thread(target=ranks[-1].read, args=(on_progress if rank == 0 else None,), daemon=True).start()
            deadline = time.monotonic() + timeout
            while any(r.proc.poll() is None for r in ranks):
                failure = _first_failure(ranks)
                if failure is not None:
                    return failure
                if time.monotonic() > deadline:
                    return Outcome({"status": "timeout", "error": _timeout_text(ranks, rendezvous, timeout)},
                                   _stderr(ranks))
                time.sleep(POLL_S)
            failure = _first_failure(ranks)
            if failure is not None:
                return failure
            if ranks[0].rank == 0:
                return Outcome(ranks[0].result_json(), _stderr(ranks))
            return Outcome({"status": "ok"}, _stderr(ranks))
        finally:
            for r in ranks:
                if r.proc.poll() is None:
                    os.killpg(r.proc.pid, signal.SIGKILL)
                r.proc.wait()


def _timeout_text(ranks: list[_Rank], rendezvous: Rendezvous, timeout: float) -> str:
    """Why the case ran out of time: ranks that never met the others, or ranks still running."""
    waiting = [str(r.rank) for r in ranks if not r.ready]
    if waiting:
        return (f"the ranks did not meet at {rendezvous.master_addr}:{rendezvous.master_port} within the {timeout:g} s "
                f"timeout: rank(s) {', '.join(waiting)} waited for the others (is every node started, with the same "
                "command?)")
    running = ", ".join(str(r.rank) for r in ranks if r.proc.poll() is None)
    return f"rank(s) {running} still running after the {timeout:g} s timeout"


def _stderr(ranks: list[_Rank]) -> str:
    return "\n".join(f"----- rank {r.rank} -----\n{r.stderr.read_text()}" for r in ranks)


def run_job(job: dict, case: Case, timeout: float, on_progress: Callable[[int], None] | None = None,
            rendezvous: Rendezvous | None = None) -> Outcome:
    """``job`` for ``case``: in one worker, or, for a distributed case, as its ranks (on free loopback ports unless
    a rendezvous is given)."""
    if not case.distributed:
        return run_worker(job, timeout, worker_env(case.threads), on_progress)
    return run_ranks(job, case, rendezvous or local_rendezvous(case.workers), timeout, on_progress)


def run_case(case: Case, timeout: float, on_progress: Callable[[int], None] | None = None,
             weights_path: str | None = None, rendezvous: Rendezvous | None = None) -> Outcome:
    """Time one case in fresh processes."""
    return run_job({"kind": "bench", "case": case.to_dict(), "weights": weights_path}, case, timeout, on_progress,
                   rendezvous)
