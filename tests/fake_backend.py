"""Test-only backends that misbehave on purpose, registered through ALEXBENCH_BACKENDS."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

STEP_S = 0.01  # what the sleeping backend's step takes
GROW_BYTES = 64 << 20


class SleepBackend:
    """Each step sleeps STEP_S: the loop must recover that time. Built with a group (a distributed case), it is
    one rank of a gloo group (torch.distributed): each step ends in a barrier, as a real step's all-reduce couples
    the ranks, and it records its pid and its rendezvous port in $FAKE_RANKS for the tests to check."""

    name = "fake-sleep"

    def __init__(self, spec, weights, config, group=None):
        self.spec, self.group = spec, group
        if group is not None:
            import torch.distributed as dist

            if os.environ.get("FAKE_RANKS"):
                Path(os.environ["FAKE_RANKS"], f"{os.getpid()}").write_text(str(group.master_port))
            dist.init_process_group("gloo", init_method="env://", timeout=timedelta(seconds=group.timeout_s))

    def set_input(self, images):
        pass

    def step(self):
        time.sleep(STEP_S)

    def forward(self):
        return self.step()

    def forward_backward(self):
        result = self.step()
        if self.group is not None:
            import torch.distributed as dist

            dist.barrier()
        return result

    def comm_backend(self):
        return "gloo"

    def collectives(self, mode):
        from frameworks.distributed import Collective

        return [Collective("all_reduce", 4096)] if mode != "forward" else []

    def comm_step(self, mode):
        import torch
        import torch.distributed as dist

        buffer = torch.zeros(1024)
        return lambda: dist.all_reduce(buffer)

    def gather_floats(self, values):
        import torch.distributed as dist

        gathered = [None] * self.group.world_size
        dist.all_gather_object(gathered, list(values))
        return gathered

    def memory_bytes(self):
        return {"param_bytes": 1000, "optimizer_bytes": 0}

    def close(self):
        import torch.distributed as dist

        dist.destroy_process_group()

    def block(self, result):
        pass

    def reset_peak_memory(self):
        pass

    def peak_memory_bytes(self):
        return None

    def describe(self):
        return {"framework": self.name, "framework_version": "0", "device": "cpu", "device_name": "cpu",
                "threads": "1"}


class CrashBackend(SleepBackend):
    """Exits hard (no exception, no result) on its third step; in a group, rank 1 only."""

    calls = 0

    def step(self):
        CrashBackend.calls += 1
        if CrashBackend.calls == 3 and (self.group is None or self.group.rank == 1):
            print("fake backend: exiting hard", flush=True)
            os._exit(3)


class SegfaultBackend(SleepBackend):
    def step(self):
        os.kill(os.getpid(), signal.SIGSEGV)


class AbortBackend(SleepBackend):
    def step(self):
        os.abort()


class HangBackend(SleepBackend):
    """Hangs in its first step; in a group, rank 1 only (rank 0 then waits for it in the barrier)."""

    def step(self):
        if self.group is None or self.group.rank == 1:
            time.sleep(3600)


class HostOomBackend(SleepBackend):
    """Runs out of host memory in its first step; in a group, rank 1 only."""

    def step(self):
        if self.group is None or self.group.rank == 1:
            raise MemoryError("cannot allocate 512 GiB")


class CudaOomBackend(SleepBackend):
    def step(self):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")


class SlowBackend(SleepBackend):
    """Sleeps long enough per step that an interrupt lands mid-case."""

    def step(self):
        time.sleep(0.2)


class GrowBackend(SleepBackend):
    """Keeps GROW_BYTES more resident memory from its first step on: the steps' own memory."""

    held: list = []

    def step(self):
        if not GrowBackend.held:
            GrowBackend.held.append(b"\x01" * GROW_BYTES)  # written, so every page is resident
        time.sleep(STEP_S)


FAKES = {
    "fake-sleep": "SleepBackend", "fake-crash": "CrashBackend", "fake-segv": "SegfaultBackend",
    "fake-abort": "AbortBackend", "fake-hang": "HangBackend", "fake-oom": "HostOomBackend",
    "fake-cuda-oom": "CudaOomBackend", "fake-slow": "SlowBackend", "fake-grow": "GrowBackend",
}
PLUGINS = ",".join(f"{name}=tests.fake_backend:{cls}" for name, cls in FAKES.items())
