"""Discovery sources: targets that follow the fleet, each made from a source's ``template``
and an address a file lists (``file``), an HTTP endpoint answers (``http``) or a ready
RayCluster's head service gives (``kuberay``); ``exporter.discovery`` reads them at run time.

A discovered target is named ``<source>:<host>:<port>`` (and a digest of the URL's path when
it has one): the name, like the URL its identity holds, follows from the address alone, so a
target that leaves a file and comes back, or outlives a restart, is the same target and goes
on counting (``store.identity``). Its settings are the template's, checked as a configured
target's are; a template is checked when the configuration is read, so that a file can only
list addresses.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter.backends import registry
from exporter.backends.kuberay.access import KubernetesAccess
from exporter.config.resolve import resolve_target
from exporter.config.types import (
    HOST_NAME,
    BearerCredentials,
    Count,
    Defaults,
    Duration,
    EmptyIfNone,
    ExactHttpUrl,
    HeaderName,
    HeaderValue,
    Strict,
    Target,
    TlsConfig,
    redact_url,
)
from exporter.config.types.url_auth import auth_text, check_one_credential_source

SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")  # no ':': it ends the prefix
STATIC_SOURCE = "config"  # the source of a target the configuration lists
MAX_NAME = 64  # a target name's length (``Target``)
MAX_ADDRESS = 2048
MAX_PATHS = 100
CONFIG_DIR = "config_dir"  # the validation context's directory of the configuration file
PROBE_URL = "http://probe.invalid:8265"  # a template is checked with this address
GIVEN_BY_ADDRESS = ("name", "url")
REFRESH_HEADER = "X-Prometheus-Refresh-Interval-Seconds"  # as Prometheus' http_sd sends it
HTTP_SD_LIMIT = 16 * 2**20  # bytes of an answer: some 70,000 groups of one address each
KINDS = ("file", "http", "kuberay")


class FileDiscovery(Strict):
    """Prometheus' file_sd: files (or globs) of target groups, re-read when they change."""

    paths: list[str] = Field(min_length=1, max_length=MAX_PATHS)
    refresh_interval: Duration = 30.0

    @field_validator("paths")
    @classmethod
    def _check_paths(cls, paths: list[str], info: ValidationInfo) -> list[str]:
        """Each a file or glob; a relative one is of the configuration file's directory (as
        Prometheus reads file_sd paths), when the configuration came from a file."""
        for path in paths:
            if not path or len(path) > 4096 or not path.isprintable():
                raise ValueError("each must be a file path or glob, printable, at most 4096 long")
        base = (info.context or {}).get(CONFIG_DIR)
        if base is None:
            return paths
        return [path if os.path.isabs(path) else os.path.join(base, path) for path in paths]


class HttpDiscovery(Strict):
    """Prometheus' http_sd: a URL answering target groups as JSON, asked every
    ``refresh_interval``. One credential source, as a Ray target has: user info in ``url``
    (basic auth), ``credentials`` (a bearer token) or an ``Authorization`` entry in
    ``headers``. The URL may carry a secret (user info, a query): it is printed redacted."""

    url: ExactHttpUrl = Field(repr=False)
    refresh_interval: Duration = 60.0
    timeout: Duration = Field(default=10.0, le=300)
    credentials: Annotated[BearerCredentials, EmptyIfNone] = BearerCredentials()
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    tls: TlsConfig | None = None
    max_response_bytes: Count = Field(default=HTTP_SD_LIMIT, gt=0, le=2**30)

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        seen: set[str] = set()
        for name in headers:
            if name.lower() in seen:
                raise ValueError(f"{name} is given twice (header names ignore case)")
            if name.lower() in (REFRESH_HEADER.lower(), "user-agent"):
                raise ValueError(f"{name} is set by the exporter")
            seen.add(name.lower())
        return headers

    @model_validator(mode="after")
    def _one_credential_source(self) -> HttpDiscovery:
        check_one_credential_source(self.url, self.credentials, self.headers)
        return self

    def url_text(self) -> str:
        """The URL, safe to print: no user info, path parameters or query."""
        return redact_url(self.url)

    def url_values(self) -> list[str]:
        """The values of the URL's query and path parameters (``;jsessionid=...``), which may
        be tokens: masked wherever text is shown, as redacted from the URL printed."""
        parts = urlsplit(self.url)
        parameters = [
            item.partition("=")[2] or item
            for segment in parts.path.split("/")
            for item in segment.split(";")[1:]
        ]
        values = [value for _, value in parse_qsl(parts.query)] + parameters
        return [value for value in values if value]

    def auth_text(self) -> str:
        """How the endpoint is asked, safe to print: never a secret value."""
        return auth_text(self.url, self.credentials, self.headers)


class KubeRayDiscovery(KubernetesAccess):
    """KubeRay's RayClusters, listed every ``refresh_interval``: the dashboard of each ready
    one's head service a target. The API server and the lists' scope are a ``kuberay``
    target's settings (``KubernetesAccess``); ``address`` says how the head is reached: its
    service's in-cluster DNS name (the default: the exporter runs in the cluster), the
    service's cluster IP, or the head pod's IP (an exporter outside the cluster's DNS)."""

    address: Literal["service_dns", "service_ip", "head_pod_ip"] = "service_dns"
    refresh_interval: Duration = 30.0
    timeout: Duration = Field(default=10.0, le=300)
    max_response_bytes: Count = Field(default=HTTP_SD_LIMIT, gt=0, le=2**30)


class DiscoverySource(Strict):
    """One source: where its addresses come from (``file``, ``http`` or ``kuberay``), the URL
    scheme of an address given as ``host:port``, at most ``max_targets`` targets, and the
    ``template`` every target it finds is made from (any key a target has, but ``name`` and
    ``url``)."""

    name: str
    file: FileDiscovery | None = None
    http: HttpDiscovery | None = None
    kuberay: KubeRayDiscovery | None = None
    scheme: Literal["http", "https"] = "http"
    max_targets: Count = Field(default=1000, gt=0, le=100_000)
    template: dict[str, Any] = Field(repr=False)  # may hold a credential

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not SOURCE_NAME.fullmatch(name):
            raise ValueError(
                "must be 1-32 characters: letters, digits and _ . -, starting with a letter "
                "or digit"
            )
        if name == STATIC_SOURCE:
            raise ValueError(f"{STATIC_SOURCE} is the source of the configured targets")
        return name

    @model_validator(mode="after")
    def _one_kind(self) -> DiscoverySource:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = " and ".join(given) or "none"
            raise ValueError(f"a source has one of file, http or kuberay ({found} given)")
        return self

    @property
    def kind(self) -> str:
        """``file``, ``http`` or ``kuberay``: the one given."""
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @property
    def refresh_interval(self) -> float:
        settings: FileDiscovery | HttpDiscovery | KubeRayDiscovery = getattr(self, self.kind)
        return settings.refresh_interval


def address_url(address: object, scheme: str) -> str:
    """The URL of a listed address: ``host:port`` (``host`` alone: the scheme's port) with
    ``scheme``, or an http(s) URL without user info, query or fragment; ValueError."""
    if not isinstance(address, str) or not address:
        raise ValueError("must be a host:port or an http(s) URL")
    if len(address) > MAX_ADDRESS or not address.isprintable() or " " in address:
        raise ValueError(f"must be printable, without spaces, at most {MAX_ADDRESS} long")
    url = address if "://" in address else f"{scheme}://{address}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("a URL must be http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("must not carry user info: credentials come from the template")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("must not carry a query or fragment")
    if "://" not in address and parts.path:
        raise ValueError("must be host:port (a path needs the URL form)")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("has an invalid port") from None
    host = parts.hostname or ""
    if not HOST_NAME.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError("must name a host: a host name or an IP address") from None
    return url.rstrip("/")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def target_name(source: str, url: str) -> str:
    """``<source>:<host>:<port>``, a digest of the path added when there is one: the same
    for the same address, another for another; within a target name's 64 characters (a long
    host is cut, and a digest of the URL tells such names apart)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    name = f"{source}:{parts.hostname}:{port}"
    if parts.path not in ("", "/"):
        name += f"-{_digest(parts.path)}"
    if len(name) > MAX_NAME:
        name = f"{name[: MAX_NAME - 9]}-{_digest(url)}"
    return name


def _problem_lines(err: ValidationError, where: str) -> str:
    lines = []
    for error in err.errors(include_input=False):
        loc = ".".join(str(part) for part in error["loc"] if part != "[key]")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required"
        lines.append(f"{where}.{loc}: {message}" if loc else f"{where}: {message}")
    return "; ".join(lines)


def template_target(
    source: DiscoverySource,
    defaults: Defaults,
    url: str,
    where: str = "template",
    name: str | None = None,
) -> Target:
    """The target ``source``'s template makes for ``url``, with the defaults filled in, named
    ``name`` (``target_name`` of the URL when None); ValueError, one line naming the field
    under ``where``."""
    template = source.template
    backend = template.get("backend")
    if not isinstance(backend, str) or backend not in registry.names():
        raise ValueError(f"{where}.backend: must be one of: {', '.join(registry.names())}")
    model = registry.declaration(backend).target
    if "url" not in model.model_fields:
        raise ValueError(
            f"{where}.backend: {backend} targets have no url: a source gives each target one"
        )
    for key in GIVEN_BY_ADDRESS:
        if key in template:
            raise ValueError(f"{where}.{key}: given by each discovered address, not the template")
    name = name or target_name(source.name, url)
    try:
        given = model.model_validate({**template, "name": name, "url": url})
    except ValidationError as err:
        raise ValueError(_problem_lines(err, where)) from None
    return resolve_target(given, defaults, where)


def discovered_target(source: DiscoverySource, defaults: Defaults, address: object) -> Target:
    """The target of ``address`` as ``source`` lists it; ValueError, one line."""
    return template_target(source, defaults, address_url(address, source.scheme))


def check_sources(sources: list[DiscoverySource], defaults: Defaults) -> None:
    """Names used once; each template makes a target (checked with a stand-in address)."""
    seen: set[str] = set()
    for index, source in enumerate(sources):
        if source.name in seen:
            raise ValueError(f"discovery[{index}].name: duplicate source name {source.name!r}")
        seen.add(source.name)
        template_target(source, defaults, PROBE_URL, f"discovery[{index}].template")
