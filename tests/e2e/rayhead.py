"""A real Ray head for end-to-end tests: installed once into a cached venv, started on private
ports in its own session, stopped by its process group (never ``ray stop``, which would kill
every Ray process on the machine).

A job that stays PENDING: submit it with ``entrypoint_num_cpus`` above the head's CPUs; Ray
keeps it pending until resources appear (or ``RAY_JOB_START_TIMEOUT_SECONDS``, 15 min, passes).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RAY_VERSION = "2.60.0"
START_DEADLINE = 120.0
STOP_DEADLINE = 20.0


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jobfleet"


def ensure_ray_venv() -> Path:
    """The python of a venv holding ray[default]==RAY_VERSION, created on first use."""
    root = cache_dir() / f"ray-{RAY_VERSION}"
    python = root / "bin" / "python"
    marker = root / ".installed"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"ray-{RAY_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return python
        shutil.rmtree(root, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(root)],
            [str(python), "-m", "pip", "install", "--quiet", f"ray[default]=={RAY_VERSION}"],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
                raise RuntimeError(f"installing ray[default]=={RAY_VERSION} failed:\n{tail}")
        marker.touch()
    return python


def _free_port() -> int:
    """A free loopback port outside 10002-19999, which `ray start` refuses."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not 10002 <= port <= 19999:
            return port
    raise RuntimeError("no free port outside 10002-19999")


class RayHead:
    """``ray start --head --block`` on private ports; a context manager."""

    def __init__(self, auth_token: str | None = None, num_cpus: int = 2) -> None:
        self.auth_token = auth_token
        self.num_cpus = num_cpus
        self.python = ensure_ray_venv()
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rh-", dir="/tmp"))
        self.gcs_port = _free_port()
        self.dashboard_port = _free_port()
        self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}"
        self._log = open(self.temp_dir / "head.log", "wb")  # noqa: SIM115 - lives with the head
        self._process: subprocess.Popen | None = None
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self.http = httpx.Client(base_url=self.dashboard_url, headers=headers, timeout=30)

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("RAY_") and key != "JOBFLEET_REQUIRE_E2E"
        }
        env.update(
            RAY_USAGE_STATS_ENABLED="0",
            RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
            RAY_AUTH_MODE="token" if self.auth_token else "disabled",
        )
        if self.auth_token:
            env["RAY_AUTH_TOKEN"] = self.auth_token
        return env

    def start(self) -> RayHead:
        ray = self.python.parent / "ray"
        ports = [_free_port() for _ in range(6)]
        command = [
            str(ray), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={self.gcs_port}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            f"--dashboard-agent-listen-port={ports[0]}",
            f"--dashboard-agent-grpc-port={ports[1]}",
            f"--metrics-export-port={ports[2]}",
            f"--ray-client-server-port={ports[3]}",
            f"--runtime-env-agent-port={ports[4]}",
            f"--node-manager-port={ports[5]}",
            f"--num-cpus={self.num_cpus}",
            "--num-gpus=0",
            f"--temp-dir={self.temp_dir}",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            start_new_session=True,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/api/jobs/").status_code == 200:
                    return self
            time.sleep(0.5)
        log = (self.temp_dir / "head.log").read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"Ray head did not come up within {START_DEADLINE:.0f}s:\n{log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process is not None:
            # workers and raylet live in the same session: make sure none is left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.http.close()
        self._log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayHead:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the Jobs API, as a user would drive it --------------------------------------------

    def submit(
        self,
        entrypoint: str,
        submission_id: str,
        metadata: dict[str, str] | None = None,
        entrypoint_num_cpus: float | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> str:
        body: dict[str, Any] = {"entrypoint": entrypoint, "submission_id": submission_id}
        if metadata:
            body["metadata"] = metadata
        if entrypoint_num_cpus is not None:
            body["entrypoint_num_cpus"] = entrypoint_num_cpus
        if runtime_env:
            body["runtime_env"] = runtime_env
        response = self.http.post("/api/jobs/", json=body)
        response.raise_for_status()
        return response.json()["submission_id"]

    def stop_job(self, job_id: str) -> None:
        self.http.post(f"/api/jobs/{job_id}/stop").raise_for_status()

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/jobs/{job_id}")
        response.raise_for_status()
        return response.json()

    def list_jobs(self) -> list[dict[str, Any]]:
        response = self.http.get("/api/jobs/")
        response.raise_for_status()
        return response.json()

    def wait_status(self, job_id: str, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is {job['status']}, not {statuses}")
            time.sleep(0.5)

    def run_driver(self, code: str, timeout: float = 120) -> None:
        """Run a script that calls ray.init() itself: Ray records it as a DRIVER job."""
        script = f"import ray\nray.init(address='127.0.0.1:{self.gcs_port}')\n{code}\n"
        subprocess.run(
            [str(self.python), "-c", script],
            env=self.env(),
            capture_output=True,
            timeout=timeout,
            check=True,
        )
