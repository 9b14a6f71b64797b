"""Test-only backends that misbehave on purpose, registered through ALEXBENCH_BACKENDS."""

from __future__ import annotations

import os
import signal
import time

STEP_S = 0.01  # what the sleeping backend's step takes
GROW_BYTES = 64 << 20


class SleepBackend:
    """Each step sleeps STEP_S: the loop must recover that time."""

    name = "fake-sleep"

    def __init__(self, spec, weights, config):
        self.spec = spec

    def set_input(self, images):
        pass

    def step(self):
        time.sleep(STEP_S)

    def forward(self):
        return self.step()

    def forward_backward(self):
        return self.step()

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
    """Exits hard (no exception, no result) on its third step."""

    calls = 0

    def step(self):
        CrashBackend.calls += 1
        if CrashBackend.calls == 3:
            print("fake backend: exiting hard", flush=True)
            os._exit(3)


class SegfaultBackend(SleepBackend):
    def step(self):
        os.kill(os.getpid(), signal.SIGSEGV)


class AbortBackend(SleepBackend):
    def step(self):
        os.abort()


class HangBackend(SleepBackend):
    def step(self):
        time.sleep(3600)


class HostOomBackend(SleepBackend):
    def step(self):
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
