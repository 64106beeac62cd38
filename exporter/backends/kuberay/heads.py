"""A RayCluster's head as a Ray Jobs API endpoint (``raycluster_types.go``, ``HeadInfo``).

KubeRay makes a head service for each RayCluster, ``<cluster>-head-svc`` unless
``spec.headGroupSpec.headService.metadata.name`` names another, and reports it in
``status.head.serviceName`` and ``serviceIP``, beside the head pod's ``podIP``. The service
exposes the head container's ports by name, so its ``dashboard`` port is the head (first)
container's port named ``dashboard``; without one, the dashboard is where
``rayStartParams["dashboard-port"]`` puts it, else on 8265 (KubeRay's default).

A head serves jobs once the cluster's ``status.state`` is ``ready`` and the service is
named, while the cluster is neither being deleted (``metadata.deletionTimestamp``) nor
suspended (``spec.suspend``, which turns the state to ``suspended`` once its pods are gone).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from exporter.backends.kit.fields import mapping, number, text
from exporter.backends.kuberay.access import DNS_LABEL

DEFAULT_DASHBOARD_PORT = 8265  # ray-operator/controllers/ray/utils/constant.go
DASHBOARD_PORT_NAME = "dashboard"
SERVICE_DOMAIN = "svc"  # <service>.<namespace>.svc: resolved through a pod's search domains

Address = Literal["service_dns", "service_ip", "head_pod_ip"]


@dataclass(frozen=True, slots=True)
class RayClusterHead:
    """What a RayCluster says of its head; ``key`` (its uid) is its identity in a list walk,
    ``version`` its ``resourceVersion``; ``port`` None when the one given is not a port."""

    key: str
    version: str
    namespace: str
    name: str
    serving: bool
    service_name: str
    service_ip: str
    pod_ip: str
    port: int | None

    def service_host(self) -> str:
        """The service's in-cluster DNS name; ValueError when a part is not a DNS label."""
        for what, label in (("namespace", self.namespace), ("serviceName", self.service_name)):
            if not DNS_LABEL.fullmatch(label):
                raise ValueError(f"{what} is not a DNS label (RFC 1123)")
        return f"{self.service_name}.{self.namespace}.{SERVICE_DOMAIN}"

    def host(self, address: Address) -> str:
        """The host to poll by ``address``: the service's DNS name, its cluster IP or the head
        pod's IP (bracketed when IPv6); ValueError when the status has no usable one."""
        if address == "service_dns":
            return self.service_host()
        field, given = (
            ("serviceIP", self.service_ip) if address == "service_ip" else ("podIP", self.pod_ip)
        )
        try:
            ip = ipaddress.ip_address(given)
        except ValueError:
            raise ValueError(f"status.head.{field} is not an IP address") from None
        return f"[{ip}]" if ip.version == 6 else str(ip)


def dashboard_port(head_group: dict[str, Any]) -> int | None:
    """The dashboard port of a head group spec (see the module); None when it is not 1-65535."""
    pod = mapping(mapping(head_group.get("template")).get("spec"))
    containers = pod.get("containers")
    first = containers[0] if isinstance(containers, list) and containers else {}
    ports = mapping(first).get("ports")
    for port in ports if isinstance(ports, list) else []:
        if mapping(port).get("name") == DASHBOARD_PORT_NAME:
            return _port(mapping(port).get("containerPort"))
    given = mapping(head_group.get("rayStartParams")).get("dashboard-port")
    return DEFAULT_DASHBOARD_PORT if given is None else _port(given)


def _port(value: Any) -> int | None:
    port = number(value)
    return int(port) if port is not None and port.is_integer() and 0 < port < 65536 else None


def read_head(item: Any) -> RayClusterHead | None:
    """The head of one RayCluster of a list; None without a ``metadata.uid``."""
    meta, spec, status = (
        mapping(mapping(item).get(part)) for part in ("metadata", "spec", "status")
    )
    key = text(meta.get("uid"))
    if not key:
        return None
    head = mapping(status.get("head"))
    service_name = text(head.get("serviceName"))
    serving = (
        text(status.get("state")) == "ready"
        and bool(service_name)
        and meta.get("deletionTimestamp") is None
        and spec.get("suspend") is not True
    )
    return RayClusterHead(
        key=key,
        version=text(meta.get("resourceVersion")),
        namespace=text(meta.get("namespace")),
        name=text(meta.get("name")),
        serving=serving,
        service_name=service_name,
        service_ip=text(head.get("serviceIP")),
        pod_ip=text(head.get("podIP")),
        port=dashboard_port(mapping(spec.get("headGroupSpec"))),
    )
