"""Backends by name: each turns one API's JSON into the shared records."""

from __future__ import annotations

from ..config import Target
from .base import Backend, Listing
from .emr_serverless import EmrServerlessBackend
from .http import ApiStats
from .modelarts_lite import ModelArtsLiteBackend
from .ray import RayBackend

BACKENDS: dict[str, type[Backend]] = {
    "ray": RayBackend,
    "openyuanrong": RayBackend,
    "emr_serverless": EmrServerlessBackend,
    "modelarts_lite": ModelArtsLiteBackend,
}


def create_backend(target: Target, stats: ApiStats) -> Backend:
    """The backend client for ``target``, its requests counted in ``stats``."""
    return BACKENDS[target.backend](target, stats)


__all__ = ["BACKENDS", "ApiStats", "Backend", "Listing", "create_backend"]
