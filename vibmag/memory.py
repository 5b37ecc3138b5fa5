"""Reusing freed memory during vibmag's long loops (glibc's malloc; elsewhere nothing changes).

Eager PyTorch allocates every intermediate tensor anew. glibc serves blocks
above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and returns
them on free, and trims the heap's free top beyond twice that threshold, so
each large temporary costs a page fault per 4 KiB and the kernel's zeroing of
it. Magnifying 32 frames of 512 x 512 touched 8 GiB of fresh pages this way
(2.1 million faults, about 2.4 s of its 5.2 s on the 2-core benchmark box).

:func:`reusing_freed_memory` switches glibc to serve every block from its
heap and keep what is freed (``M_MMAP_MAX = 0``, ``M_TRIM_THRESHOLD`` 2 GiB)
while vibmag works, and afterwards hands the free memory back to the system
(``malloc_trim``) and sets the thresholds glibc's own dynamic rule settles at
after large blocks (mmap above 32 MiB, trim beyond 64 MiB). Results do not
change; the peak resident memory rises by the heap's fragmentation (measured:
+80 MiB on that run).

Left alone: processes on other C libraries, and any process whose user tuned
these thresholds already (``MALLOC_MMAP_MAX_``, ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or their ``GLIBC_TUNABLES``)
or set ``VIBMAG_REUSE_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import threading
from contextlib import contextmanager

__all__ = ["reusing_freed_memory", "reuses_freed_memory"]

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_KEEP = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))
#: The user's own tuning of these thresholds, which vibmag then leaves alone.
_TUNED = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
#: What glibc's dynamic thresholds reach once large blocks were freed (its DEFAULT_MMAP_THRESHOLD_MAX and twice that),
#: and its default count of mmapped blocks: the process after vibmag behaves as after any large-array work.
_AFTER = ((_M_MMAP_MAX, 65536), (_M_MMAP_THRESHOLD, 32 * 2**20), (_M_TRIM_THRESHOLD, 64 * 2**20))

_lock = threading.Lock()
_depth = 0


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc's handle when this process runs on it and the user left malloc alone, else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if (os.environ.get("VIBMAG_REUSE_MEMORY", "1") == "0" or any(name in os.environ for name in _TUNED)
            or any(f"glibc.malloc.{name}" in tunables for name in ("mmap_max", "mmap_threshold", "trim_threshold", "top_pad"))):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _set(libc, settings) -> None:
    for parameter, value in settings:
        libc.mallopt(ctypes.c_int(parameter), ctypes.c_int(value))


@contextmanager
def reusing_freed_memory():
    """Within the block, glibc keeps freed memory for reuse; after the outermost one, it is handed back.

    Nestable and thread-safe (a count of the blocks open in the process);
    does nothing where :func:`_libc` finds no glibc to tune.

    Examples
    --------
    >>> import torch
    >>> with reusing_freed_memory():
    ...     total = sum(float(torch.ones(2**22).sum()) for _ in range(3))
    >>> total
    12582912.0
    """
    global _depth
    libc = _libc()
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _set(libc, _KEEP)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(libc, _AFTER)
                libc.malloc_trim(ctypes.c_size_t(0))


def reuses_freed_memory(function):
    """Decorator: run ``function`` inside :func:`reusing_freed_memory`."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with reusing_freed_memory():
            return function(*args, **kwargs)
    return wrapper
