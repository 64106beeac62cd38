"""The discovery documents a client reads to find a resource (``kubectl get rayjobs.ray.io``):
the legacy forms, which every kubectl falls back to when aggregated discovery is not offered."""

from __future__ import annotations

from typing import Any

from exporter.simulators.kubernetes.resources import GROUP, GROUP_VERSION, RESOURCES, VERBS

SERVER_VERSION = {
    "major": "1",
    "minor": "34",
    "gitVersion": "v1.34.0",
    "platform": "linux/amd64",
}


def _group_version() -> dict[str, str]:
    return {"groupVersion": GROUP_VERSION, "version": GROUP_VERSION.split("/")[1]}


def _resources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for kind in RESOURCES.values():
        found.append(
            {
                "name": kind.plural,
                "singularName": kind.singular,
                "namespaced": True,
                "kind": kind.kind,
                "verbs": VERBS,
                "categories": ["all"],
            }
        )
        found.append(
            {
                "name": f"{kind.plural}/status",
                "singularName": "",
                "namespaced": True,
                "kind": kind.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    return found


def discovery_document(path: str) -> dict[str, Any] | None:
    """The document served at ``path``, or None when it is not a discovery path."""
    group = {"name": GROUP, "versions": [_group_version()], "preferredVersion": _group_version()}
    documents: dict[str, dict[str, Any]] = {
        "/version": SERVER_VERSION,
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]},
        f"/apis/{GROUP}": {"kind": "APIGroup", "apiVersion": "v1", **group},
        f"/apis/{GROUP_VERSION}": {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": GROUP_VERSION,
            "resources": _resources(),
        },
    }
    return documents.get(path)
