"""The custom resources the server serves, declared once: everything else (routes, discovery,
list kinds) derives from these."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "ray.io"
VERSION = "v1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]


@dataclass(frozen=True, slots=True)
class ResourceKind:
    plural: str  # the path segment: rayjobs
    singular: str
    kind: str  # RayJob

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


RAY_JOBS = ResourceKind("rayjobs", "rayjob", "RayJob")
RAY_CLUSTERS = ResourceKind("rayclusters", "raycluster", "RayCluster")
RESOURCES = {kind.plural: kind for kind in (RAY_JOBS, RAY_CLUSTERS)}


def status(code: int, reason: str, message: str) -> dict[str, object]:
    """A ``Status`` object: the body of every error answer and of a watch's ERROR event."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class ApiError(Exception):
    """An answer with a ``Status`` body."""

    def __init__(
        self, code: int, reason: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body = status(code, reason, message)
        self.headers = headers or {}
