"""Fixtures for a real Ray head: one without auth, one with token auth, shared per session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from ..helpers import need
from .rayhead import RayHead


def _start(auth_token: str | None) -> RayHead:
    try:
        return RayHead(auth_token=auth_token).start()
    except (RuntimeError, OSError) as err:
        need(False, f"no real Ray head: {err}")
        raise


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    head = _start(None)
    yield head
    head.stop()


@pytest.fixture(scope="session")
def ray_head_token() -> Iterator[RayHead]:
    head = _start(secrets.token_hex(16))
    yield head
    head.stop()
