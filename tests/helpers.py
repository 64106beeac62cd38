"""Shared test helpers: paths, exposition parsing, promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RAY_TESTDATA = SHARED / "testdata" / "ray"
REQUIRE_E2E = os.environ.get("JOBFLEET_REQUIRE_E2E") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip when a real component is missing, unless the e2e run requires it."""
    if condition:
        return
    if REQUIRE_E2E:
        pytest.fail(f"JOBFLEET_REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


def samples(text: str | bytes) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition as {(name, labels): value}, parsed by client_python."""
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str | bytes, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples(text).items() if n == name and wanted <= ls]
    assert found, f"no sample {name}{labels}"
    return sum(found)


def promtool_check_metrics(text: bytes) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    need(promtool is not None, "promtool is not installed (apt-get install prometheus)")
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
