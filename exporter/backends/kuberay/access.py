"""How a Kubernetes API server is reached and what of it is listed, declared once: a KubeRay
target (``target``) and a ``kuberay`` discovery source (``config.discovery``) both take these
settings. The server is ``url`` (with ``credentials`` and ``tls``), the pod's own
(``in_cluster``) or a kubeconfig's context; ``namespaces`` and ``label_selector`` narrow the
lists, each paged by ``page_size`` up to ``max_pages``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, InstanceOf, field_validator, model_validator

from exporter.backends.kuberay.kubeconfig import Kubeconfig, read_kubeconfig
from exporter.config.types import (
    BearerCredentials,
    EmptyIfNone,
    FileSecret,
    HttpUrl,
    Strict,
    TlsConfig,
    redact_url,
)
from exporter.http.tls import TlsSettings

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SELECTOR = re.compile(r"[A-Za-z0-9./_=!,()\s-]{0,1024}")


class KubernetesAccess(Strict):
    """A Kubernetes API server and the scope of its lists.

    ``url`` is its API server; ``in_cluster: true`` takes the pod's own (the
    ``KUBERNETES_SERVICE_HOST``/``_PORT`` environment, the service account's token, re-read as
    the kubelet rotates it, and its CA) instead; ``kubeconfig`` those of a kubeconfig file's
    context (``context``, else its current one: the server, its CA, the user's token, token
    file or client certificate). ``namespaces`` limits the lists to those (a Role in each
    suffices); none means every namespace (a ClusterRole)."""

    url: HttpUrl | None = None
    in_cluster: bool = False
    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    credentials: Annotated[BearerCredentials, EmptyIfNone] = BearerCredentials()
    tls: TlsConfig | None = None
    # given as a path; what was read from it once the settings are validated
    kubeconfig: InstanceOf[Kubeconfig] | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    label_selector: str = ""
    page_size: int = Field(default=500, gt=0, le=10_000)
    max_pages: int = Field(default=1000, gt=0)

    @field_validator("namespaces")
    @classmethod
    def _check_namespaces(cls, namespaces: tuple[str, ...]) -> tuple[str, ...]:
        for namespace in namespaces:
            if not DNS_LABEL.fullmatch(namespace):
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
    def _the_api_server(cls, data: Any) -> Any:
        """The API server and how to reach it: ``url`` (with ``credentials`` and ``tls``), the
        pod's own (``in_cluster``), or a kubeconfig's; exactly one."""
        if not isinstance(data, dict) or isinstance(data.get("kubeconfig"), Kubeconfig):
            return data  # not a mapping, or read already
        given = [
            key
            for key, is_set in (
                ("url", data.get("url") is not None),
                ("in_cluster", bool(data.get("in_cluster"))),
                ("kubeconfig", data.get("kubeconfig") is not None),
            )
            if is_set
        ]
        if len(given) != 1:
            found = f"; found {' and '.join(given)}" if given else ""
            raise ValueError(
                "set one of url, in_cluster: true (the pod's own API server) or kubeconfig" + found
            )
        if data.get("context") is not None and given != ["kubeconfig"]:
            raise ValueError("context names a kubeconfig's context: it goes with kubeconfig")
        if given == ["in_cluster"]:
            return _in_cluster(data)
        if given == ["kubeconfig"]:
            return _from_kubeconfig(data)
        return data

    def endpoint_text(self) -> str:
        return redact_url(self.url or "")

    def tls_settings(self) -> TlsSettings:
        if self.kubeconfig is not None:
            return self.kubeconfig.tls
        return self.tls.settings() if self.tls is not None else TlsSettings()

    def auth_text(self) -> str:
        token = self.credentials.token_file or self.credentials.token
        source, parts = self.kubeconfig, []
        if isinstance(token, FileSecret):
            parts.append(
                f"Authorization: Bearer token (from file {token.path}, re-read when it changes)"
            )
        elif token is not None:
            parts.append(
                "Authorization: Bearer token" + ("" if source else " (from credentials.token)")
            )
        if source is None:
            return parts[0] if parts else "none"
        if source.tls.cert_file or source.tls.cert_data:
            parts.append("client certificate")
        return f"{' and '.join(parts) or 'none'} (from {source.origin()})"


def _in_cluster(data: dict[str, Any]) -> dict[str, Any]:
    """The pod's API server, its service account's token file and CA."""
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


def _from_kubeconfig(data: dict[str, Any]) -> dict[str, Any]:
    """The server, credentials and TLS settings of a kubeconfig's context."""
    conflicts = [key for key in ("credentials", "tls") if data.get(key)]
    if conflicts:
        raise ValueError(
            "kubeconfig gives the server's credentials and TLS settings: drop "
            + " and ".join(conflicts)
        )
    path, context = data["kubeconfig"], data.get("context")
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ValueError(
            "kubeconfig: must be a file path ($KUBECONFIG is not read unless named: "
            "kubeconfig: ${KUBECONFIG})"
        )
    if context is not None and (not isinstance(context, str) or not context):
        raise ValueError("context: must be the name of a context in the kubeconfig")
    source, settings = read_kubeconfig(str(path), context)
    return {**data, **settings, "kubeconfig": source}
