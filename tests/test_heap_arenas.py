"""glibc's arenas limited at start: threads allocating at once share two heaps, not one each
(the cause of RSS growing with target churn), unless MALLOC_ARENA_MAX says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.path.exists("/etc/alpine-release"),
    reason="glibc only",
)

# Eight threads each hold 200 allocations of 64 KiB while all are alive, then glibc's
# malloc_info says how many heaps (arenas) exist.
PROBE = """
import ctypes, os, sys, tempfile, threading
from exporter.polling.heap import limit_arenas
print("set" if limit_arenas() else "left")
libc = ctypes.CDLL(None)
libc.malloc.restype = libc.fdopen.restype = ctypes.c_void_p
all_in, done = threading.Barrier(9), threading.Event()
def hold():
    blocks = [libc.malloc(65536) for _ in range(200)]
    all_in.wait()
    done.wait()
threads = [threading.Thread(target=hold) for _ in range(8)]
for t in threads: t.start()
all_in.wait()
fd, path = tempfile.mkstemp()
stream = libc.fdopen(fd, b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fflush(ctypes.c_void_p(stream))
print(open(path).read().count("<heap nr="))
done.set()
"""


def heaps(env: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    return out[0], int(out[1])


def test_threads_share_two_arenas() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert heaps(env) == ("set", 2)


def test_malloc_arena_max_in_the_environment_rules() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "4"}
    said, count = heaps(env)
    assert said == "left" and 2 < count <= 4
