"""A real Ray head for end-to-end tests.

``ensure_ray_venv()`` installs ``ray[default]==RAY_VERSION`` once into a cached venv (under
``${XDG_CACHE_HOME:-~/.cache}/jobfleet/``) and reuses it. ``RayHead`` runs ``ray start --head
--block`` from it in its own session, on loopback, on private ports and a private temp dir, and
stops it by its process group: never ``ray stop``, which kills every Ray process on the machine.

Job states a test can make on a head with ``num_cpus`` CPUs (measured on Ray 2.60):

- SUCCEEDED / FAILED: ``submit('python -c "print(1)"', ...)`` /
  ``submit('python -c "import sys; sys.exit(3)"', ...)`` (FAILED carries
  ``error_type: JOB_ENTRYPOINT_COMMAND_ERROR`` and ``driver_exit_code: 3``).
- RUNNING, then STOPPED: ``submit("sleep 600", ...)``, then ``stop_job(id)``.
- PENDING, for as long as the test wants: ask for resources no node has, either
  ``entrypoint_num_cpus`` above ``num_cpus`` or ``entrypoint_resources={"<name nobody has>": 1}``
  (what ``submit_pending`` does). The job supervisor actor cannot be placed, so the job stays
  PENDING until ``RAY_JOB_START_TIMEOUT_SECONDS`` passes (900 s; ``RayHead(job_start_timeout=)``
  sets it), then turns FAILED with ``error_type: JOB_SUPERVISOR_ACTOR_START_TIMEOUT``.
  ``stop_job`` does NOT end a pending job: Ray answers ``{"stopped": true}`` but only queues the
  stop on the unplaced actor, so the job stays PENDING until that timeout.
- DRIVER jobs: ``run_driver(code)`` (finished: SUCCEEDED) or ``start_driver(code)`` (RUNNING until
  the caller ends the process). They have ``type: DRIVER``, ``submission_id: None`` and are
  found by ``job_id`` (``GET /api/jobs/{job_id}`` works) or by ``driver_info.pid``.
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
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from ..helpers import cache_dir

RAY_VERSION = "2.60.0"
INSTALL_TIMEOUT = 900.0  # pip install ray[default]: ~1 min on a good day
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
# Every process a head starts inherits this variable; stop() sweeps the stragglers by it.
TAG_VARIABLE = "JOBFLEET_RAYHEAD"
# A custom resource that no node of ours has: asking for it keeps a job PENDING.
NO_SUCH_RESOURCE = "jobfleet_never_available"
_DRIVER_JOB_ID_LINE = "JOBFLEET_DRIVER_JOB_ID="


def ensure_ray_venv() -> Path:
    """The python of a venv holding ``ray[default]==RAY_VERSION``, created on first use.

    A file lock keeps two test processes from installing at once; the ``.installed`` marker is
    written only after a checked install, so a half-done install is thrown away and redone.
    """
    root = cache_dir() / f"ray-{RAY_VERSION}"
    python = root / "bin" / "python"
    marker = root / ".installed"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"ray-{RAY_VERSION}.lock", "w") as lock:
        _flock(lock, deadline=time.monotonic() + INSTALL_TIMEOUT + 120)
        if marker.exists() and python.resolve().exists():
            return python
        shutil.rmtree(root, ignore_errors=True)
        log = root.parent / f"ray-{RAY_VERSION}-install.log"
        pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        steps = [
            [sys.executable, "-m", "venv", str(root)],
            [*pip, "install", "--progress-bar", "off", f"ray[default]=={RAY_VERSION}"],
            [str(python), "-c", "import ray, aiohttp; print(ray.__version__)"],
        ]
        deadline = time.monotonic() + INSTALL_TIMEOUT
        with open(log, "w") as out:
            for step in steps:
                out.write(f"$ {' '.join(step)}\n")
                out.flush()
                try:
                    result = subprocess.run(
                        step,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        timeout=max(1.0, deadline - time.monotonic()),
                        check=False,
                    )
                    failed = result.returncode != 0
                except subprocess.TimeoutExpired:
                    failed = True
                    out.write(f"\ntimed out after {INSTALL_TIMEOUT:.0f}s\n")
                if failed:
                    out.flush()
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                    raise RuntimeError(
                        f"installing ray[default]=={RAY_VERSION} into {root} failed "
                        f"(full log: {log}):\n{tail}"
                    )
        marker.touch()
    return python


def _flock(lock: Any, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"another process holds {lock.name} for too long") from None
            time.sleep(1)


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports outside 10002-19999 (Ray's worker range, refused by
    ``ray start``). The sockets stay bound until all are chosen, so no port is given twice."""
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(count + 200):
            if len(ports) == count:
                return ports
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if not 10002 <= port <= 19999:
                ports.append(port)
        raise RuntimeError("no free ports outside 10002-19999")
    finally:
        for sock in sockets:
            sock.close()


def _alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _tagged_pids(tag: str) -> list[int]:
    """PIDs of live processes whose environment holds ``TAG_VARIABLE=tag``."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


class RayHead:
    """``ray start --head --block`` on loopback and private ports; a context manager.

    Call ``start()`` (or use ``with``); ``stop()`` is idempotent and also runs at exit.
    ``job_start_timeout`` (seconds) turns a job still PENDING after that long into FAILED.
    """

    def __init__(
        self,
        auth_token: str | None = None,
        num_cpus: int = 2,
        job_start_timeout: float | None = None,
    ) -> None:
        self.auth_token = auth_token
        self.num_cpus = num_cpus
        self.job_start_timeout = job_start_timeout
        self.python: Path = ensure_ray_venv()
        self.temp_dir: Path | None = None
        self.gcs_port = 0
        self.dashboard_port = 0
        self.dashboard_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._drivers = 0
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self.http = httpx.Client(headers=headers, timeout=30)

    # --- life cycle -------------------------------------------------------------------------

    @property
    def gcs_address(self) -> str:
        """``127.0.0.1:<GCS port>``, for ``ray.init(address=...)``."""
        return f"127.0.0.1:{self.gcs_port}"

    def env(self) -> dict[str, str]:
        """The environment for the head and for drivers: no inherited ``RAY_*`` settings."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("RAY_") and key != "JOBFLEET_REQUIRE_E2E"
        }
        env.update(
            RAY_USAGE_STATS_ENABLED="0",
            RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
            RAY_AUTH_MODE="token" if self.auth_token else "disabled",
            # single-node mode: Ray keeps 127.0.0.1 instead of swapping in the host's address
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        )
        if self.auth_token:
            env["RAY_AUTH_TOKEN"] = self.auth_token
        if self.job_start_timeout is not None:
            env["RAY_JOB_START_TIMEOUT_SECONDS"] = str(self.job_start_timeout)
        if self.temp_dir is not None:
            env[TAG_VARIABLE] = self.temp_dir.name
        return env

    def launch(self) -> RayHead:
        """Start the head process and return at once; ``wait_ready()`` waits for its API."""
        if self._process is not None:
            return self
        # short on purpose: Ray's unix socket paths live below it (limit ~107 bytes)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rh-", dir="/tmp"))
        ports = _free_ports(10)
        self.gcs_port, self.dashboard_port = ports[0], ports[1]
        self.http.base_url = self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}"
        command = [
            str(self.python.parent / "ray"), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={self.gcs_port}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            f"--dashboard-agent-listen-port={ports[2]}",
            f"--dashboard-agent-grpc-port={ports[3]}",
            f"--metrics-export-port={ports[4]}",
            f"--ray-client-server-port={ports[5]}",
            f"--runtime-env-agent-port={ports[6]}",
            f"--node-manager-port={ports[7]}",
            f"--object-manager-port={ports[8]}",
            # workers on OS-chosen ports, so two heads never hand out the same one
            "--min-worker-port=0", "--max-worker-port=0",
            f"--num-cpus={self.num_cpus}",
            "--num-gpus=0",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
            "--log-color=false",
            f"--temp-dir={self.temp_dir}",
        ]  # fmt: skip
        self._log = open(self.temp_dir / "head.log", "wb")  # noqa: SIM115 - lives with the head
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            start_new_session=True,
        )
        atexit.register(self.stop)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> RayHead:
        """Wait until ``GET /api/jobs/`` answers 200; on failure stop and say why."""
        assert self._process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                last = f"ray start exited with {self._process.returncode}"
                break
            try:
                response = self.http.get("/api/jobs/", timeout=5)
                if response.status_code == 200:
                    return self
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as err:
                last = repr(err)
            time.sleep(0.3)
        logs = self._log_tail()
        self.stop()
        raise RuntimeError(f"Ray head did not come up within {timeout:.0f}s ({last}):\n{logs}")

    def start(self) -> RayHead:
        """Launch the head and wait until its Jobs API answers."""
        return self.launch().wait_ready()

    def _log_tail(self, chars: int = 3000) -> str:
        if self.temp_dir is None:
            return ""
        parts = []
        for path in (
            self.temp_dir / "head.log",
            self.temp_dir / "session_latest" / "logs" / "dashboard.log",
        ):
            with contextlib.suppress(OSError):
                parts.append(f"--- {path.name}:\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGTERM the head's process group, SIGKILL it after ``STOP_TIMEOUT``, then kill any
        process still tagged with this head (job entrypoints run in sessions of their own)."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if self.temp_dir is not None:
            deadline = time.monotonic() + 10
            while (pids := _tagged_pids(self.temp_dir.name)) and time.monotonic() < deadline:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self.http.close()

    def __enter__(self) -> RayHead:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the Jobs API, as a user would drive it ---------------------------------------------

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.is_error:
            raise httpx.HTTPStatusError(
                f"{response.request.method} {response.request.url} -> "
                f"{response.status_code}: {response.text[:500]}",
                request=response.request,
                response=response,
            )
        return response

    def submit(
        self,
        entrypoint: str,
        submission_id: str,
        metadata: dict[str, str] | None = None,
        entrypoint_num_cpus: float | None = None,
        runtime_env: dict[str, Any] | None = None,
        entrypoint_resources: dict[str, float] | None = None,
    ) -> str:
        """``POST /api/jobs/``; returns the submission id."""
        body: dict[str, Any] = {"entrypoint": entrypoint, "submission_id": submission_id}
        if metadata is not None:
            body["metadata"] = metadata
        if entrypoint_num_cpus is not None:
            body["entrypoint_num_cpus"] = entrypoint_num_cpus
        if entrypoint_resources is not None:
            body["entrypoint_resources"] = entrypoint_resources
        if runtime_env is not None:
            body["runtime_env"] = runtime_env
        return self._checked(self.http.post("/api/jobs/", json=body)).json()["submission_id"]

    def submit_pending(self, submission_id: str, metadata: dict[str, str] | None = None) -> str:
        """Submit a job that stays PENDING: it asks for a resource no node has."""
        return self.submit(
            "echo never-runs",
            submission_id,
            metadata=metadata,
            entrypoint_resources={NO_SUCH_RESOURCE: 1},
        )

    def stop_job(self, job_id: str) -> bool:
        """``POST /api/jobs/{id}/stop``; True if Ray stopped it (False: it had ended)."""
        return bool(self._checked(self.http.post(f"/api/jobs/{job_id}/stop")).json()["stopped"])

    def job(self, job_id: str) -> dict[str, Any]:
        """``GET /api/jobs/{id}`` (a submission id or a job id)."""
        return self._checked(self.http.get(f"/api/jobs/{job_id}")).json()

    def list_jobs(self) -> list[dict[str, Any]]:
        """``GET /api/jobs/``: every job, SUBMISSION and DRIVER."""
        return self._checked(self.http.get("/api/jobs/")).json()

    def wait_status(self, job_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
        """Poll a job until its status is one of ``statuses``; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job.get("status") in statuses:
                return job
            time.sleep(0.25)
        raise TimeoutError(
            f"job {job_id} is {job.get('status')} after {timeout:.0f}s, not one of {statuses}: "
            f"{str(job.get('message'))[:300]}"
        )

    def driver_job(self, pid: int) -> dict[str, Any] | None:
        """The DRIVER job whose driver process is ``pid``, if Ray lists it."""
        for job in self.list_jobs():
            info = job.get("driver_info") or {}
            if job.get("type") == "DRIVER" and str(info.get("pid")) == str(pid):
                return job
        return None

    def wait_driver(self, pid: int, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
        """Poll until the DRIVER job of process ``pid`` has one of ``statuses``."""
        deadline = time.monotonic() + timeout
        job: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            job = self.driver_job(pid)
            if job is not None and job.get("status") in statuses:
                return job
            time.sleep(0.25)
        raise TimeoutError(f"driver pid {pid}: {job} after {timeout:.0f}s, not in {statuses}")

    # --- DRIVER jobs: scripts that call ray.init() themselves -------------------------------

    def _driver_script(self, code: str) -> str:
        return (
            "import ray\n"
            f"ray.init(address={self.gcs_address!r}, log_to_driver=False)\n"
            f"print({_DRIVER_JOB_ID_LINE!r} + ray.get_runtime_context().get_job_id(), flush=True)\n"
            f"{textwrap.dedent(code)}\n"
        )

    def run_driver(self, code: str, timeout: float = 60) -> str:
        """Run ``code`` in a script that joined the cluster with ``ray.init()``; Ray records it as
        a DRIVER job, SUCCEEDED once the script ends. Returns its job id (hex)."""
        result = subprocess.run(
            [str(self.python), "-c", self._driver_script(code)],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        for line in result.stdout.splitlines():
            if line.startswith(_DRIVER_JOB_ID_LINE) and result.returncode == 0:
                return line.removeprefix(_DRIVER_JOB_ID_LINE)
        raise RuntimeError(
            f"driver exited with {result.returncode}:\n{result.stdout[-1500:]}\n"
            f"{result.stderr[-1500:]}"
        )

    def start_driver(self, code: str) -> subprocess.Popen[bytes]:
        """Start a driver script in the background (its own session) and return the process:
        a RUNNING DRIVER job until the caller ends it (``terminate()``, then ``wait()``).
        Find its job with ``wait_driver(process.pid, {"RUNNING"})``."""
        assert self.temp_dir is not None, "start() first"
        self._drivers += 1
        log = self.temp_dir / f"driver-{self._drivers}.log"
        with open(log, "wb") as out:
            return subprocess.Popen(
                [str(self.python), "-c", self._driver_script(code)],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
