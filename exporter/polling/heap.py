"""Giving back to the operating system the heap that a large answer leaves free.

After a poll of a large job list, the C heap holds free pages (pieces received, tables of the
last poll's dictionaries) that the allocator keeps for later; glibc's ``malloc_trim`` returns
them. Elsewhere (musl, macOS) there is no such call and this does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

LARGE_LISTING = 10_000  # items in a listing after which a poll gives free heap back


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # the process' own libc
    except (OSError, AttributeError):  # a libc without it
        return None


_TRIM = _malloc_trim()


def release_free_heap() -> None:
    """Return the C heap's free pages to the operating system, where the libc can."""
    if _TRIM is not None:
        _TRIM(0)
