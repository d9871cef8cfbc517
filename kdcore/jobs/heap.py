"""Give freed tensor memory back to the operating system (glibc) without paying for it on every step.

glibc serves large allocations with ``mmap`` and unmaps them when freed — until the first such
block is freed: then it raises its mmap threshold (up to 32 MiB) and later blocks of that size come
from the heap, which it does not shrink. Activations of a 224×224 backbone are exactly that size, so
a process that has fine-tuned a ResNet keeps ~400–700 MB it no longer uses, and the next job's peak
lands on top of it (full-size MHIST run, glibc's defaults: 2,050 MB peak).

The first fix pinned the threshold at glibc's starting 128 KB. That returned the memory (1,580 MB)
but every per-batch tensor of the course student (256 × 784 floats ≈ 800 KB, its 2.4 MB weight
gradient) was then mmap'd, page-faulted in and unmapped on every step: ~5,900 page faults a step and
a 1.6–1.75× slower Fashion-MNIST epoch. So the policy now is:

- ``M_MMAP_THRESHOLD`` fixed at :data:`MMAP_THRESHOLD_BYTES` (4 MiB): per-batch tensors of the MNIST-style
  pairs (≤ 2.4 MB) come from the heap and are reused step after step; a backbone's activations at
  224×224 (6–13 MB per micro-batch of 4) are still mmap'd and go back to the OS when freed.
- ``M_TRIM_THRESHOLD`` at :data:`TRIM_THRESHOLD_BYTES` (64 MiB): glibc does not shrink the heap after
  each step only to grow it again on the next (with its 128 KB default, a 4 MiB threshold still costs
  ~2,000 page faults a step; with 64 MiB: none, as with glibc's defaults).
- :func:`trim_heap` (``malloc_trim(0)``) after every job — workers, thread-mode runner slots, Ray tasks
  — returns what the heap still holds free, in every arena, before the next job starts.

Measured with ``python -m kdcore bench`` (``engine.heap_*`` and ``mhist.peak_rss_mb_full_size_run``), one run on an
idle 2-core machine, 2026-11-28 (docs/BENCH.md): a cached-logits KD epoch (20,480 Fashion-MNIST images) 0.89 s with
this policy, 0.90 s with glibc's defaults, 1.66 s with the 128 KB fix (0.03, 0.15 and 4,382 page faults a step);
the full-size MHIST run's peak 1,879 MB (≤ 2,048 MB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only: musl, macOS and Windows have no mallopt
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def return_freed_memory_to_os() -> bool:
    """Set this process's heap policy (once; see the module docstring). False where there is no glibc
    (macOS, Windows, musl): nothing changes there."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def trim_heap() -> bool:
    """Give the heap's free pages back to the OS now (``malloc_trim(0)``, every arena); milliseconds.
    Called between jobs. True when glibc released something."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "return_freed_memory_to_os", "trim_heap"]
