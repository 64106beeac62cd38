"""The command as users run it: subprocesses, signals, exit codes."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from exporter.simulators.ray import RaySimulator

from .helpers import (
    ROOT,
    exporter_process,
    free_port,
    promtool_check_metrics,
    stop_with_sigterm,
    value,
)


def write_config(tmp_path: Path, url: str, **extra: str) -> Path:
    lines = [f"  {k}: {v}" for k, v in extra.items()]
    path = tmp_path / "config.yaml"
    path.write_text(
        f"targets:\n- name: sim\n  backend: ray\n  url: {url}\n" + "\n".join(lines) + "\n"
    )
    return path


def exporter_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "exporter", *args]


def test_once_prints_exposition_that_promtool_accepts(tmp_path: Path) -> None:
    with RaySimulator() as sim:
        sim.add_job("r", status="RUNNING")
        sim.add_job("f", status="FAILED", end_time=time.time())
        config = write_config(tmp_path, sim.url)
        result = subprocess.run(
            exporter_cmd("--config.file", str(config), "--once"),
            capture_output=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert value(result.stdout, "jobfleet_jobs", status="RUNNING") == 1
    assert value(result.stdout, "jobfleet_jobs", status="FAILED") == 1
    lint = promtool_check_metrics(result.stdout)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.slow
def test_once_exits_1_when_a_poll_fails(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}", timeout="2s")
    result = subprocess.run(
        exporter_cmd("--config.file", str(config), "--once", "--log.format", "json"),
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert value(result.stdout, "jobfleet_target_up", resource="jobs") == 0
    assert b'"level": "warning"' in result.stderr and b"connection" in result.stderr


@pytest.mark.slow
def test_serves_until_sigterm_then_exits_cleanly(tmp_path: Path) -> None:
    with RaySimulator() as sim:
        sim.add_job("r", status="RUNNING")
        config = write_config(tmp_path, sim.url, poll_interval="1s")
        with exporter_process("--config.file", str(config)) as (process, base):
            body = httpx.get(f"{base}/metrics", timeout=5).content
            assert value(body, "jobfleet_jobs", status="RUNNING") == 1
            assert b"shutting down" in stop_with_sigterm(process)


def test_listen_address_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, "http://127.0.0.1:9")
        result = subprocess.run(
            exporter_cmd("--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
