"""--web.config.file: TLS, mTLS and basic auth, with real ssl clients against the exporter."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest

from exporter.simulators.ray import RaySimulator

from .helpers import ROOT, free_port
from .pki import server_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1, and a client certificate, all from openssl."""
    return server_pki(tmp_path_factory.mktemp("pki"))


def start(config: Path, web: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(config),
            "--web.config.file",
            str(web),
            "--web.listen-address",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    return process, port


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=15)


def wait_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the exporter did not listen")


@pytest.fixture
def exporter_config(tmp_path: Path):
    with RaySimulator() as sim:
        sim.add_job("j", status="RUNNING")
        path = tmp_path / "config.yaml"
        path.write_text(f"targets:\n- name: t\n  backend: ray\n  url: {sim.url}\n")
        yield path


@pytest.mark.slow
def test_tls_and_min_version(pki: Path, exporter_config: Path, tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
        "  min_version: TLS13\n"
    )
    process, port = start(exporter_config, web)
    try:
        wait_port(port, process)
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        response = httpx.get(f"https://127.0.0.1:{port}/metrics", verify=context, timeout=10)
        assert response.status_code == 200 and b"jobfleet_build_info" in response.content
        old = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/metrics", verify=old, timeout=10)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        # the server still answers after the failed handshakes
        assert (
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context, timeout=10).status_code
            == 200
        )
    finally:
        stop(process)


@pytest.mark.slow
def test_mutual_tls(pki: Path, exporter_config: Path, tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki / 'ca.crt'}\n"
    )
    process, port = start(exporter_config, web)
    try:
        wait_port(port, process)
        url = f"https://127.0.0.1:{port}/metrics"
        anonymous = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        with pytest.raises(httpx.HTTPError):
            httpx.get(url, verify=anonymous, timeout=10)
        client = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        client.load_cert_chain(pki / "client.crt", pki / "client.key")
        assert httpx.get(url, verify=client, timeout=10).status_code == 200
    finally:
        stop(process)


@pytest.mark.slow
def test_basic_auth_reread_when_the_file_changes(exporter_config: Path, tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    first = bcrypt.hashpw(b"first-password", bcrypt.gensalt(rounds=4)).decode()
    web.write_text(f"basic_auth_users:\n  prometheus: {first}\n")
    process, port = start(exporter_config, web)
    try:
        wait_port(port, process)
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url, timeout=10).status_code == 401
        assert httpx.get(url, auth=("prometheus", "wrong"), timeout=10).status_code == 401
        assert httpx.get(url, auth=("nobody", "first-password"), timeout=10).status_code == 401
        missing = httpx.get(url, timeout=10)
        assert missing.headers["WWW-Authenticate"].startswith("Basic")
        assert httpx.get(url, auth=("prometheus", "first-password"), timeout=10).status_code == 200
        assert httpx.post(f"http://127.0.0.1:{port}/-/reload", timeout=10).status_code == 401

        second = bcrypt.hashpw(b"second-password", bcrypt.gensalt(rounds=4)).decode()
        web.write_text(f"basic_auth_users:\n  prometheus: {second}\n")
        os.utime(web, (time.time() + 5, time.time() + 5))
        assert httpx.get(url, auth=("prometheus", "first-password"), timeout=10).status_code == 401
        assert httpx.get(url, auth=("prometheus", "second-password"), timeout=10).status_code == 200
    finally:
        stop(process)


@pytest.mark.slow
def test_a_broken_web_config_is_a_clear_startup_error(
    exporter_config: Path, tmp_path: Path
) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  prometheus: plaintext-password\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(exporter_config),
            "--web.config.file",
            str(web),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert "basic_auth_users.prometheus: not a bcrypt hash" in result.stderr
    assert "plaintext-password" not in result.stderr
