"""The test helpers that decide whether a test passes."""

import pytest

from .helpers import eventually


def test_eventually_returns_the_first_truthy_value() -> None:
    values = iter([0, "", "ready"])
    assert eventually(lambda: next(values), timeout=5, step=0) == "ready"


def test_eventually_fails_naming_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waited 0\.05 s for the head; last value: \[\]"):
        eventually(lambda: [], timeout=0.05, step=0.01, what="the head")


def test_eventually_names_the_check_by_its_source_when_not_told() -> None:
    with pytest.raises(AssertionError, match=r"for .*lambda: 1 > 2"):
        eventually(lambda: 1 > 2, timeout=0.01, step=0.01)
