"""A private Docker engine for the image test, and the base image it builds on.

No image can be pulled here, so ``DockerEngine.base_image()`` makes one: ``mmdebstrap`` writes a
Debian bookworm root filesystem with python3 and its venv module (the host's CA bundle copied in,
so pip inside a build reaches the package index the way the host does), and ``docker import``
loads it. The tarball and the engine's data root live under ``cache_dir()``, so the base and
the build cache are made once per machine and reused.

The engine listens on a private socket, with no bridge and no iptables changes: containers run
with ``--network host`` and so serve on the host's loopback. ``stop()`` ends it by its PID.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..helpers import cache_dir

BASE_IMAGE = "jobfleet-test-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def missing_tools() -> list[str]:
    """The host tools the engine needs that are not installed."""
    return [tool for tool in ("dockerd", "docker", "mmdebstrap") if shutil.which(tool) is None]


def unmount_below(directory: Path) -> None:
    """Unmount what dockerd leaves mounted in its exec root (the ``netns/default`` nsfs bind),
    deepest first, so that the directory can be removed."""
    prefix = f"{directory}/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, timeout=30, check=False)


class DockerEngine:
    """``dockerd`` on a private socket; a context manager."""

    def __init__(self) -> None:
        self.root = cache_dir() / "docker"
        self.run_dir = Path(tempfile.mkdtemp(prefix="jobfleet-dockerd-"))
        self.socket = self.run_dir / "docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "0"}
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = None

    def __enter__(self) -> DockerEngine:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # One engine per data root at a time: a second test run waits for the first.
        self._lock = open(self.root.parent / "docker.lock", "w")  # noqa: SIM115 (held until stop)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        log = open(self.run_dir / "dockerd.log", "wb")  # noqa: SIM115 (closed by the process end)
        self._process = subprocess.Popen(
            [
                "dockerd",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.run_dir / 'exec'}",
                f"--pidfile={self.run_dir / 'dockerd.pid'}",
                f"--host=unix://{self.socket}",
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while self.docker("version", check=False, timeout=10).returncode != 0:
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockerd did not start: {self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to dockerd (which stops its containerd), SIGKILL to the group if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        unmount_below(self.run_dir)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            text = (self.run_dir / "dockerd.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"

    def docker(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this engine."""
        result = subprocess.run(
            ["docker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:2])} failed: {result.stderr[-2000:]}")
        return result

    def base_image(self) -> str:
        """``BASE_IMAGE``, imported from a cached mmdebstrap tarball, made if missing."""
        if self.docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
            return BASE_IMAGE
        tarball = cache_dir() / "debian-bookworm-python3-rootfs.tar"
        if not tarball.exists():
            partial = tarball.with_suffix(".partial")
            made = subprocess.run(
                [
                    "mmdebstrap",
                    "--quiet",
                    "--variant=minbase",
                    "--format=tar",
                    f"--include={BASE_PACKAGES}",
                    f"--customize-hook=copy-in {HOST_CA_BUNDLE} /etc/ssl/certs/",
                    "bookworm",
                    str(partial),
                ],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if made.returncode != 0:
                raise RuntimeError(f"mmdebstrap failed: {made.stderr[-2000:]}")
            partial.rename(tarball)
        self.docker("import", str(tarball), BASE_IMAGE, timeout=300)
        return BASE_IMAGE
