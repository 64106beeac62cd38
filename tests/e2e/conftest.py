"""Real Ray heads for end-to-end tests: ``ray_head`` (no auth) and ``ray_head_token`` (token
auth, the token in ``.auth_token``), one of each per session.

When the session needs both, both start at once (~9 s together instead of ~5 s each one after
the other) and stop at once. If Ray cannot be installed or started the tests skip, or fail when
``JOBFLEET_REQUIRE_E2E=1`` (CI).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from .rayhead import RayHead, ensure_ray_venv

KINDS = ("ray_head", "ray_head_token")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: needs a real external component (Ray head, Prometheus, promtool)"
    )


def unavailable(reason: str) -> None:
    """Skip, or fail when the run requires the end-to-end tests."""
    if os.environ.get("JOBFLEET_REQUIRE_E2E") == "1":
        pytest.fail(f"JOBFLEET_REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)


class Fleet:
    """The session's heads: launched together on first use, waited for one by one."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.heads: dict[str, RayHead] = {}
        self.ready: set[str] = set()
        self.errors: dict[str, str] = {}

    def _launch_missing(self) -> None:
        """Launch every wanted head not launched yet, without waiting for any."""
        missing = [k for k in KINDS if k in self.wanted and k not in self.heads | self.errors]
        if not missing:
            return
        try:
            ensure_ray_venv()
        except (RuntimeError, OSError) as err:
            self.errors.update(dict.fromkeys(missing, f"no Ray venv: {err}"))
            return
        for kind in missing:
            token = secrets.token_hex(16) if kind == "ray_head_token" else None
            try:
                self.heads[kind] = RayHead(auth_token=token).launch()
            except (RuntimeError, OSError) as err:
                self.errors[kind] = f"cannot launch a Ray head: {err}"

    def get(self, kind: str) -> RayHead:
        """The head of this kind, ready; skips (or fails) the test if there is none."""
        self.wanted.add(kind)
        self._launch_missing()
        if kind not in self.errors and kind not in self.ready:
            try:
                self.heads[kind].wait_ready()
                self.ready.add(kind)
            except RuntimeError as err:
                self.errors[kind] = f"no real Ray head: {err}"
        if kind in self.errors:
            unavailable(self.errors[kind])
        return self.heads[kind]

    def stop_all(self) -> None:
        heads = list(self.heads.values())
        if heads:
            with ThreadPoolExecutor(len(heads)) as pool:
                list(pool.map(RayHead.stop, heads))


@pytest.fixture(scope="session")
def ray_fleet(request: pytest.FixtureRequest) -> Iterator[Fleet]:
    """Starts every head the session's tests ask for, all at once; stops them at the end."""
    wanted = {
        name
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in KINDS
    }
    fleet = Fleet(wanted)
    yield fleet
    fleet.stop_all()


@pytest.fixture(scope="session")
def ray_head(ray_fleet: Fleet) -> RayHead:
    """A real Ray head without authentication."""
    return ray_fleet.get("ray_head")


@pytest.fixture(scope="session")
def ray_head_token(ray_fleet: Fleet) -> RayHead:
    """A real Ray head with ``RAY_AUTH_MODE=token``; the token is ``.auth_token``."""
    return ray_fleet.get("ray_head_token")
