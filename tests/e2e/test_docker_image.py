"""The container image, built from the repository's Dockerfile on a private Docker engine: it
serves the demo to the host as a non-root user under a read-only root filesystem, reports
healthy through its own HEALTHCHECK, keeps its state file on a volume across a restart, and
stops cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from exporter import __version__
from exporter.simulators.ray import RaySimulator

from ..helpers import ROOT, eventually, free_port, need, promtool_check_metrics, value, wait_ready
from .dockerd import DockerEngine, missing_tools

pytestmark = pytest.mark.e2e

IMAGE = "jobfleet-exporter:e2e"
UID = 65532
STATE_DIR = "/var/lib/jobfleet-exporter"
# The hardening a careful operator adds; the image must work under all of it.
HARDENED = ("--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges", "--network=host")


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    missing = missing_tools()
    need(not missing, f"missing {', '.join(missing)} (scripts/install-tools.sh installs them)")
    need(os.geteuid() == 0, "dockerd needs root")
    try:
        with DockerEngine() as engine:
            yield engine
    except RuntimeError as err:
        need(False, f"no Docker engine: {err}")


@pytest.fixture(scope="module")
def image(engine: DockerEngine) -> str:
    base = engine.base_image()
    engine.docker(
        "build",
        "--quiet",
        "--network=host",  # no bridge here: pip in the build uses the host's network
        f"--build-arg=BASE_IMAGE={base}",
        f"--build-arg=VERSION={__version__}",
        f"--tag={IMAGE}",
        str(ROOT),
        timeout=900,
    )
    return IMAGE


@contextlib.contextmanager
def container(engine: DockerEngine, *args: str) -> Iterator[str]:
    """``docker run -d ARGS``; yield the container id; remove it (and its anonymous volumes)."""
    cid = engine.docker("run", "--detach", *args).stdout.strip()
    try:
        yield cid
    finally:
        engine.docker("rm", "--force", "--volumes", cid, check=False)


def inspect(engine: DockerEngine, ref: str) -> dict:
    return json.loads(engine.docker("inspect", ref).stdout)[0]


def process_ids(pid: int) -> tuple[int, int]:
    """The real UID and GID of a host process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        fields[key] = rest.split()
    return int(fields["Uid"][0]), int(fields["Gid"][0])


def logs(engine: DockerEngine, cid: str) -> str:
    result = engine.docker("logs", cid, check=False)
    return (result.stdout + result.stderr)[-3000:]


def test_image_metadata(engine: DockerEngine, image: str) -> None:
    config = inspect(engine, image)["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["jobfleet-exporter"]
    assert "9760/tcp" in config["ExposedPorts"]
    assert STATE_DIR in config["Volumes"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.title"] == "jobfleet-exporter"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    # The runtime venv carries no installer: pip stayed in the build stage.
    listing = engine.docker("run", "--rm", "--entrypoint=ls", image, "/opt/jobfleet-exporter/bin")
    assert "jobfleet-exporter" in listing.stdout.split()
    assert "pip" not in listing.stdout.split()


def test_demo_serves_metrics_to_the_host_as_non_root(engine: DockerEngine, image: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with container(
        engine,
        *HARDENED,
        f"--env=JOBFLEET_HEALTHCHECK_URL={base}/healthz",
        "--health-interval=1s",
        image,
        "--demo",
        f"--web.listen-address=127.0.0.1:{port}",
    ) as cid:
        try:
            wait_ready(base, timeout=60)
        except AssertionError:
            pytest.fail(f"the demo never became ready; container log:\n{logs(engine, cid)}")
        body = httpx.get(f"{base}/metrics", timeout=10).content
        assert value(body, "jobfleet_build_info", version=__version__) == 1
        for target in ("demo-ray", "demo-openyuanrong", "demo-emr", "demo-modelarts"):
            assert value(body, "jobfleet_target_up", target=target, resource="jobs") == 1
        assert promtool_check_metrics(body).returncode == 0

        state = inspect(engine, cid)["State"]
        assert process_ids(state["Pid"]) == (UID, UID), "the exporter must not run as root"
        assert eventually(
            lambda: inspect(engine, cid)["State"]["Health"]["Status"] == "healthy", 30
        ), inspect(engine, cid)["State"]["Health"]


def write_config(directory: Path, ray_url: str, port: int) -> None:
    config = {
        "web": {"listen_address": f"127.0.0.1:{port}"},
        "state_file": f"{STATE_DIR}/state.json",
        "targets": [
            {"name": "ray-docker", "backend": "ray", "url": ray_url, "poll_interval": "1s"},
        ],
    }
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(config))


def test_state_on_a_volume_survives_a_restart(
    engine: DockerEngine, image: str, ray_sim: RaySimulator, tmp_path: Path
) -> None:
    """Default command, config mounted read-only, state on a host directory: a job that finishes
    while the container is stopped is counted by the next one, once, after the first's count."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write_config(tmp_path / "config", ray_sim.url, port)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, UID, UID)
    run = (
        *HARDENED,
        f"--volume={tmp_path / 'config'}:/etc/jobfleet-exporter:ro",
        f"--volume={state}:{STATE_DIR}",
        f"--env=JOBFLEET_HEALTHCHECK_URL={base}/healthz",
        image,
    )

    def finished() -> float:
        body = httpx.get(f"{base}/metrics", timeout=10).content
        return value(body, "jobfleet_jobs_finished_total", target="ray-docker", phase="succeeded")

    ray_sim.add_job("before", status="SUCCEEDED")  # finished before the baseline: not counted
    ray_sim.add_job("first", status="RUNNING")
    ray_sim.add_job("second", status="RUNNING")
    with container(engine, *run) as cid:
        wait_ready(base, timeout=60)
        assert finished() == 0
        ray_sim.set_status("first", "SUCCEEDED")
        assert eventually(lambda: finished() == 1, 20), logs(engine, cid)
        saved = state / "state.json"
        assert eventually(saved.exists, 10)
        assert saved.stat().st_uid == UID
        engine.docker("stop", "--time=20", cid, timeout=60)
        assert inspect(engine, cid)["State"]["ExitCode"] == 0, logs(engine, cid)

    ray_sim.set_status("second", "SUCCEEDED")  # while no exporter runs
    with container(engine, *run) as cid:
        wait_ready(base, timeout=60)
        assert eventually(lambda: finished() == 2, 20), logs(engine, cid)
        assert finished() == 2
        assert "ray-docker" in json.loads((state / "state.json").read_text())["targets"]
