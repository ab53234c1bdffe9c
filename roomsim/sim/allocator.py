"""Keep freed memory in the process between ticks (glibc malloc tuning).

Every tick builds and drops packet batches of a few MB. With glibc's defaults, memory freed
at the top of the heap is handed back to the kernel as soon as more than twice the
current mmap threshold is free, and blocks above the threshold are mmap'ed afresh: the next
tick faults the same pages in again, zero-filled by the kernel. On a 1,000-listener webinar
that was ~650 page faults a tick and a sixth of the run's time in the kernel. Raising both
thresholds keeps the pages for reuse; peak memory is unchanged (the pages were needed at
the peak anyway), the process only stops shrinking between ticks. Results do not depend
on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameters (glibc malloc/malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's ceiling for its own dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit):
#: larger blocks (whole-run tables) still get their own mappings.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Free memory the heap may keep at its top before returning it to the kernel.
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024

_done = False


def keep_freed_memory() -> None:
    """Raise glibc's trim and mmap thresholds once per process (no-op elsewhere)."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    _done = True
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
