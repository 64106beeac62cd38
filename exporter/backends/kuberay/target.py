"""The configuration of a KubeRay target: a Kubernetes API server (its URL, or the pod's own
in-cluster API), the namespaces and label selector of the RayJobs and RayClusters it lists."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from exporter.config.types import (
    AttributionSettings,
    BearerCredentials,
    Defaults,
    Duration,
    EmptyIfNone,
    FileSecret,
    HttpUrl,
    Target,
    redact_url,
)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
NAMESPACE_LABEL = "namespace"  # every KubeRay series' own label: the RayJob's namespace
NAMESPACE_SOURCE = "metadata.namespace"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SELECTOR = re.compile(r"[A-Za-z0-9./_=!,()\s-]{0,1024}")


class KubeRayTarget(Target):
    """RayJobs (``jobs``) and RayClusters (``clusters``) of one Kubernetes cluster.

    ``url`` is its API server; ``in_cluster: true`` takes the pod's own (the
    ``KUBERNETES_SERVICE_HOST``/``_PORT`` environment, the service account's token, re-read as
    the kubelet rotates it, and its CA) instead. ``namespaces`` limits the lists to those (a
    Role in each suffices); none means every namespace (a ClusterRole)."""

    backend: Literal["kuberay"]
    url: HttpUrl | None = None
    in_cluster: bool = False
    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    credentials: Annotated[BearerCredentials, EmptyIfNone] = BearerCredentials()
    namespaces: tuple[str, ...] = ()
    label_selector: str = ""
    page_size: int = Field(default=500, gt=0, le=10_000)
    max_pages: int = Field(default=1000, gt=0)
    # RayJobs are watched from poll to poll; listed whole again this often, to mend a state
    # an odd event left (docs/backends/kuberay.md)
    full_list_interval: Duration = 1800.0

    @field_validator("namespaces")
    @classmethod
    def _check_namespaces(cls, namespaces: tuple[str, ...]) -> tuple[str, ...]:
        for namespace in namespaces:
            if not _DNS_LABEL.fullmatch(namespace):
                raise ValueError(f"{namespace[:64]!r} is not a namespace name (RFC 1123 label)")
        return tuple(dict.fromkeys(namespaces))

    @field_validator("label_selector")
    @classmethod
    def _check_selector(cls, selector: str) -> str:
        if not _SELECTOR.fullmatch(selector):
            raise ValueError("must be a Kubernetes label selector (app=ray,tier!=test)")
        return selector

    @model_validator(mode="before")
    @classmethod
    def _the_pods_api(cls, data: Any) -> Any:
        """``in_cluster``: the pod's API server, its service account's token file and CA."""
        if not isinstance(data, dict):
            return data
        if bool(data.get("in_cluster")) == (data.get("url") is not None):
            raise ValueError("set url, or in_cluster: true (the pod's own API server), not both")
        if not data.get("in_cluster"):
            return data
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ValueError("in_cluster: KUBERNETES_SERVICE_HOST is not set (not in a pod?)")
        if data.get("credentials"):
            raise ValueError("in_cluster takes the service account's token: drop credentials")
        account = Path(str(data.get("service_account_dir") or SERVICE_ACCOUNT_DIR))
        host = f"[{host}]" if ":" in host else host
        return {
            **data,
            "url": f"https://{host}:{port}",
            "credentials": {"token_file": str(account / "token")},
            "tls": data.get("tls") or {"ca_file": str(account / "ca.crt")},
        }

    def with_defaults(self, defaults: Defaults) -> Target:
        """Also the ``namespace`` label, first, on every job series (and on the histograms):
        the label KubeRay users want first, which no configured label may take."""
        target = super().with_defaults(defaults)
        given = target.attribution or AttributionSettings()
        labels = {NAMESPACE_LABEL: NAMESPACE_SOURCE, **given.labels}
        histograms = (NAMESPACE_LABEL, *given.histograms)
        attribution = given.model_copy(update={"labels": labels, "histograms": histograms})
        return target.model_copy(update={"attribution": attribution})

    def endpoint_text(self) -> str:
        return redact_url(self.url or "")

    def identity(self) -> dict[str, object]:
        return {
            "url": redact_url(self.url or ""),
            "namespaces": list(self.namespaces),
            "label_selector": self.label_selector,
        }

    def auth_text(self) -> str:
        token = self.credentials.token_file or self.credentials.token
        if token is None:
            return "none"
        if isinstance(token, FileSecret):
            return f"Authorization: Bearer token (from file {token.path}, re-read when it changes)"
        return "Authorization: Bearer token (from credentials.token)"
