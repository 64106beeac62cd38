"""A real Prometheus (and its neighbours) for end-to-end tests: started on loopback, stopped by
PID, queried over its HTTP API."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..helpers import free_port, need


@contextlib.contextmanager
def daemon(command: list[str], log: Path) -> Iterator[subprocess.Popen]:
    """A server process, stopped by its PID on the way out."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class Prometheus:
    """A running Prometheus; ``query`` gives an instant query's result list ([] until ready)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list:
        data = self.api("query", query=expr)
        return data["result"] if data is not None else []

    def api(self, endpoint: str, **params: str) -> Any:
        """The ``data`` of ``/api/v1/<endpoint>``; None while Prometheus cannot answer yet."""
        try:
            answer = httpx.get(f"{self.url}/api/v1/{endpoint}", params=params, timeout=5)
            payload = answer.json()
        except (httpx.HTTPError, ValueError):
            return None
        assert payload.get("status") != "error", (endpoint, params, payload)
        return payload["data"] if payload.get("status") == "success" else None


@contextlib.contextmanager
def prometheus_scraping(
    exporter_url: str, workdir: Path, *, flags: Sequence[str] = (), **settings: Any
) -> Iterator[Prometheus]:
    """Prometheus scraping ``exporter_url`` every second; ``flags`` go on its command line
    (``--enable-feature=...``), ``settings`` into its config file beside ``global`` and
    ``scrape_configs`` (rule files, alerting)."""
    binary = shutil.which("prometheus")
    need(binary is not None, "prometheus is not installed (scripts/install-tools.sh)")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "jobfleet",
                "static_configs": [{"targets": [exporter_url.removeprefix("http://")]}],
            }
        ],
        **settings,
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    command = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *flags,
    ]
    with daemon(command, workdir / "prometheus.log"):
        yield Prometheus(port)
