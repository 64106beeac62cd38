"""Keeping the C heap small: giving back what a large answer leaves free, and few arenas.

After a poll of a large job list, the C heap holds free pages (pieces received, tables of the
last poll's dictionaries) that the allocator keeps for later; glibc's ``malloc_trim`` returns
them. Elsewhere (musl, macOS) there is no such call and this does nothing.

glibc gives threads arenas of their own, up to eight per core, and a long-lived allocation made
by one poll thread pins its arena's pages among short-lived ones: with targets coming and going
(discovery churn), RSS grew ~28 KB per target that left, for good, while the Python objects did
not grow. With two arenas it stays level (docs/performance.md#target-churn); the polls run
under the GIL anyway, so more arenas bought no parallelism. ``MALLOC_ARENA_MAX`` in the
environment, if set, is left to rule.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

LARGE_LISTING = 10_000  # items in a listing after which a poll gives free heap back
ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def _libc_call(name: str) -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), name)  # the process' own libc
    except (OSError, AttributeError):  # a libc without it (musl has no mallopt arenas)
        return None


_TRIM = _libc_call("malloc_trim")


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Let glibc make at most ``arenas`` arenas from now on, unless ``MALLOC_ARENA_MAX`` says
    otherwise; call before threads start. True when set."""
    mallopt = _libc_call("mallopt")
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


def release_free_heap() -> None:
    """Return the C heap's free pages to the operating system, where the libc can."""
    if _TRIM is not None:
        _TRIM(0)
