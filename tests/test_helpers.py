"""The test helpers that decide whether a test passes."""

import os
import subprocess
import sys
import time

import pytest

from .helpers import ROOT, eventually


def test_eventually_returns_the_first_truthy_value() -> None:
    values = iter([0, "", "ready"])
    assert eventually(lambda: next(values), timeout=5, step=0) == "ready"


def test_eventually_fails_naming_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waited 0\.05 s for the head; last value: \[\]"):
        eventually(lambda: [], timeout=0.05, step=0.01, what="the head")


def test_eventually_names_the_check_by_its_source_when_not_told() -> None:
    with pytest.raises(AssertionError, match=r"for .*lambda: 1 > 2"):
        eventually(lambda: 1 > 2, timeout=0.01, step=0.01)


@pytest.mark.slow
def test_every_process_collects_the_same_tests() -> None:
    """A parallel run (make test, make test-fast) has each worker collect the tests and stops
    if they differ: no test id may depend on the clock, a hash seed or chance."""

    def collected(seed: str) -> list[str]:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"],
            capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        return [line for line in run.stdout.splitlines() if "::" in line]

    started = time.monotonic()
    first = collected("1")
    assert time.monotonic() - started > 1  # the clock's second moved on before the second
    second = collected("2")
    assert len(first) > 1000
    assert first == second
