"""The PyTorch ``tuned`` variant's allocator setting takes effect where glibc is the C library."""

import platform

import pytest

from frameworks.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD, keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_both_thresholds():
    assert keep_freed_memory() == f"glibc mmap_threshold={MMAP_THRESHOLD} trim_threshold={TRIM_THRESHOLD}"
