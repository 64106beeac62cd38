"""One version, set in exporter/__init__.py, everywhere it is shown: the package metadata,
--version, jobfleet_build_info, the image's default label and the Helm chart."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter import __revision__, __version__
from exporter.simulators.ray import RaySimulator

from .helpers import ROOT

CHART = ROOT / "helm" / "jobfleet-exporter"


def test_version_is_a_release_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_package_metadata_takes_the_version_from_the_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "exporter.__version__"}' in pyproject
    assert importlib.metadata.version("jobfleet-exporter") == __version__


def test_chart_app_version_and_version_are_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
    assert chart["version"] == __version__  # the chart is released with the exporter
    image = yaml.safe_load((CHART / "values.yaml").read_text())["image"]
    assert image["repository"] == "ghcr.io/jobfleet/jobfleet-exporter"
    assert image["tag"] == ""  # the chart falls back to its appVersion


def test_dockerfile_default_version_is_the_package_version() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (default,) = re.findall(r"^ARG VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert default == __version__
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile
    assert 'org.opencontainers.image.revision="${REVISION}"' in dockerfile


def test_version_flag_prints_version_and_revision() -> None:
    command = Path(sys.executable).with_name("jobfleet-exporter")
    out = subprocess.run(
        [command, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert out.strip() == f"jobfleet-exporter {__version__} (revision {__revision__})"


@pytest.mark.slow
def test_build_info_in_a_real_exposition(tmp_path: Path) -> None:
    with RaySimulator() as sim:
        config = tmp_path / "config.yaml"
        config.write_text(f"targets:\n- name: sim\n  backend: ray\n  url: {sim.url}\n")
        exposition = subprocess.run(
            [sys.executable, "-m", "exporter", "--config.file", str(config), "--once"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    (family,) = (
        f for f in text_string_to_metric_families(exposition) if f.name == "jobfleet_build_info"
    )
    (sample,) = family.samples
    assert sample.value == 1
    assert sample.labels == {
        "version": __version__,
        "revision": __revision__,
        "python_version": platform.python_version(),
    }
