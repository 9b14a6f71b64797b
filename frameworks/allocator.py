"""The PyTorch ``tuned`` variant's allocator setting: keep freed activation buffers in the heap.

glibc serves every block above its mmap threshold (128 KiB at first, raised only as such blocks
are freed) with a fresh ``mmap`` and unmaps it on free, and it hands freed heap tops back to the
OS above its trim threshold. A step that allocates tens of MB of activations then page-faults
them in again on every call: on this project's 2-core VM, conv1 + ReLU in PyTorch took 45-50 ms
of which 20-25 ms were page faults. Fixed thresholds keep those pages mapped between steps.
The same effect as ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...:glibc.malloc.trim_threshold=...``
at process start. Only PyTorch's ``tuned`` variant uses it: TensorFlow and JAX measured no gain
(PERFORMANCE.md).
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts on 64-bit: bigger blocks are still mmapped
TRIM_THRESHOLD = 1 << 30  # a C int


def keep_freed_memory() -> str:
    """Raise glibc's mmap and trim thresholds for this process; what was set, for the record."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "system default (no glibc mallopt)"
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "system default (mallopt refused)"
    return f"glibc mmap_threshold={MMAP_THRESHOLD} trim_threshold={TRIM_THRESHOLD}"
