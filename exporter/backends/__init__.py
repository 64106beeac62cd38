"""Backends by name: each turns one API's JSON into the shared records."""

from __future__ import annotations

from collections.abc import Iterable

from ..config import ConfigError, Target
from ..status import ApiStats
from .base import Backend, Listing
from .emr_serverless import EmrServerlessBackend
from .modelarts_lite import ModelArtsLiteBackend
from .ray import RayBackend

BACKENDS: dict[str, type[Backend]] = {
    "ray": RayBackend,
    "openyuanrong": RayBackend,
    "emr_serverless": EmrServerlessBackend,
    "modelarts_lite": ModelArtsLiteBackend,
}


def create_backend(target: Target, stats: ApiStats) -> Backend:
    """The backend client for ``target``, its requests counted in ``stats``.

    Whatever stops a client from being built (a file, a certificate, a value the HTTP client
    refuses) is a ConfigError naming the target: start exits 2 and a reload is refused."""
    try:
        return BACKENDS[target.backend](target, stats)
    except Exception as err:
        why = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError([f"target {target.name}: cannot set up its client: {why}"]) from None


def check_backends(targets: Iterable[Target]) -> None:
    """Build and close every target's client, as start does; ConfigError lists what fails."""
    problems = []
    for target in targets:
        try:
            create_backend(target, ApiStats()).close()
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)


__all__ = ["BACKENDS", "Backend", "Listing", "check_backends", "create_backend"]
