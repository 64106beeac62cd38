"""What a release publishes, built here: ``python -m build`` makes an sdist and a wheel (the wheel
from the sdist, so the sdist is complete), the wheel installs into a clean venv whose command
serves the demo, and ``helm package`` makes a chart that carries the repository's rules and
dashboards."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter import __version__
from exporter.backends import registry
from exporter.demo import demo_target_name

from .helpers import ROOT, cache_dir, free_port, need, wait_ready

# What the release writes into exporter/REVISION before building (here into a copy of the
# sources, so that the checkout stays untouched).
REVISION = "0123456789abcdef0123456789abcdef01234567"
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "exporter")
DEMO_TARGETS = {demo_target_name(name) for name in registry.names()}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from a copy of the sources with a REVISION written in."""
    work = tmp_path_factory.mktemp("package")
    source = work / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    (source / "exporter" / "REVISION").write_text(REVISION + "\n")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return work / "dist"


@pytest.mark.slow
def test_build_makes_an_sdist_and_a_wheel_of_this_version(dist: Path) -> None:
    stem = f"jobfleet_exporter-{__version__}"
    assert sorted(p.name for p in dist.iterdir()) == [
        f"{stem}-py3-none-any.whl",
        f"{stem}.tar.gz",
    ]
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "exporter").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(dist / f"{stem}-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"{stem}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"{stem}.dist-info/entry_points.txt").decode()
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    assert "exporter/REVISION" in names
    assert f"{stem}.dist-info/licenses/LICENSE" in names
    assert f"\nVersion: {__version__}\n" in metadata
    assert "jobfleet-exporter = exporter.cli:main" in entry_points
    with tarfile.open(dist / f"{stem}.tar.gz") as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "exporter/REVISION"} <= members
    assert modules <= members


def build_info(exposition: str) -> dict[str, str]:
    (family,) = (
        f for f in text_string_to_metric_families(exposition) if f.name == "jobfleet_build_info"
    )
    (sample,) = family.samples
    return sample.labels


@pytest.mark.slow
def test_wheel_installs_into_a_clean_venv_and_its_command_serves_the_demo(
    dist: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (wheel,) = dist.glob("*.whl")
    # pip as configured on this machine (its index and find-links), nothing else.
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    location = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import exporter; print(exporter.__file__)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert Path(location.strip()).is_relative_to(venv), "the venv imported the checkout"

    port = free_port()
    process = subprocess.Popen(
        [
            str(venv / "bin" / "jobfleet-exporter"),
            "--demo",
            "--web.listen-address",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        exposition = httpx.get(f"{base}/metrics", timeout=10).text
        assert build_info(exposition) == {
            "version": __version__,
            "revision": REVISION,
            "python_version": platform.python_version(),
        }
        polled = {
            sample.labels["target"]
            for family in text_string_to_metric_families(exposition)
            if family.name == "jobfleet_target_up"
            for sample in family.samples
        }
        assert polled == DEMO_TARGETS
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def helm() -> str:
    bundled = cache_dir() / "helm-v3.17.2" / "helm"
    found = str(bundled) if bundled.is_file() else shutil.which("helm")
    need(found is not None, "helm is not installed (scripts/install-tools.sh)")
    return found


def test_chart_package_carries_the_version_image_rules_and_dashboards(tmp_path: Path) -> None:
    packaged = subprocess.run(
        [helm(), "package", str(ROOT / "helm" / "jobfleet-exporter"), "--destination", tmp_path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert packaged.returncode == 0, packaged.stderr
    (archive,) = tmp_path.glob("*.tgz")
    assert archive.name == f"jobfleet-exporter-{__version__}.tgz"
    with tarfile.open(archive) as chart:

        def read(name: str) -> bytes:
            member = chart.extractfile(f"jobfleet-exporter/{name}")
            assert member is not None, name
            return member.read()

        assert yaml.safe_load(read("Chart.yaml"))["appVersion"] == __version__
        image = yaml.safe_load(read("values.yaml"))["image"]
        assert (image["repository"], image["tag"]) == ("ghcr.io/jobfleet/jobfleet-exporter", "")
        # files/ links into the repository: the package holds the linked files' contents.
        for name in ("alerts.yml", "recording.yml"):
            assert read(f"files/{name}") == (ROOT / "rules" / name).read_bytes()
        for dashboard in (ROOT / "grafana" / "dashboards").glob("*.json"):
            assert read(f"files/dashboards/{dashboard.name}") == dashboard.read_bytes()


@pytest.mark.slow
def test_every_module_imports_on_its_own() -> None:
    """Each module of the package in a fresh interpreter, first: an import cycle that only
    works in some order (a package importing a module that imports the package back) fails."""
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "exporter").rglob("*.py")
        if path.name != "__main__.py"
    )
    script = (
        "import subprocess, sys\n"
        "failed = [m for m in sys.argv[1:] if subprocess.run("
        "[sys.executable, '-c', f'import {m}'], capture_output=True).returncode]\n"
        "print(' '.join(failed))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )  # fmt: skip
    assert len(modules) > 50
    assert found.stdout.split() == []
