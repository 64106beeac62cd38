"""Configuration: YAML file -> env expansion -> validated pydantic models.

Every problem becomes one line naming the field path (``targets[1].url: ...``); a value is never
echoed back where it could be a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .auth import alibaba_credentials
from .auth.alibaba_credentials import CredentialProvider
from .auth.sdk_hmac import HuaweiKey
from .config_files import (
    CONFIG_FILE_LIMIT,
    CREDENTIAL_RULE,
    PEM_FILE_LIMIT,
    FileProblem,
    check_regular_file,
    is_credential,
    read_secret_file,
    read_text_file,
)
from .tls import TlsSettings, ssl_context
from .yaml_loader import YamlProblem, load_yaml

DEFAULT_LISTEN_ADDRESS = ":9760"


MAX_PROBLEM_LENGTH = 500


def one_line(text: str, limit: int = MAX_PROBLEM_LENGTH) -> str:
    """``text`` as one printable line: control characters escaped, cut at ``limit``."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_PROBLEMS = 100


class ConfigError(Exception):
    """An invalid configuration: one line per problem, the first ``MAX_PROBLEMS`` of them
    (a generated file can hold thousands; a reload's HTTP answer and the log stay small)."""

    def __init__(self, problems: list[str]) -> None:
        more = len(problems) - MAX_PROBLEMS
        problems = [one_line(problem) for problem in problems[:MAX_PROBLEMS]]
        if more > 0:
            problems.append(f"... and {more} more problems")
        super().__init__("\n".join(problems))
        self.problems = problems


# --- value types -----------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """``30s``, ``5m``, ``1h30m``, ``250ms`` or a plain number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    "bad duration: use a number with a unit, such as 30s, 5m or 1h"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError("must be a duration such as 30s, 5m or 1h")
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


# What HTTP can carry: a header value is visible ASCII with inner spaces or tabs (RFC 9110,
# obs-text excluded); a token or key is visible ASCII without spaces (``is_credential``).
# httpx refuses anything else when the client is built or the request is sent, so it is
# refused here, in the config.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x21-\x7e\t]*[\x21-\x7e])?)?")
HEADER_VALUE_RULE = (
    "must be visible ASCII characters (inner spaces allowed), without line breaks, "
    "control characters or leading and trailing spaces"
)


def _check_secret(secret: SecretStr) -> SecretStr:
    if not is_credential(secret.get_secret_value()):
        raise ValueError(CREDENTIAL_RULE)  # never the value
    return secret


class FileSecret(SecretStr):
    """A secret read from a file: its value, and the path it came from (safe to print)."""

    def __init__(self, value: str, path: str = "") -> None:
        super().__init__(value)
        self.path = path


def _read_secret_file(path: Any) -> FileSecret:
    if not isinstance(path, str | Path):
        raise ValueError("must be a file path")
    try:
        return FileSecret(read_secret_file(path), str(path))
    except FileProblem as err:
        raise ValueError(str(err)) from None


def _check_token_file(path: Path) -> Path:
    _read_secret_file(path)
    return path


Secret = Annotated[SecretStr, AfterValidator(_check_secret)]
TokenFilePath = Annotated[Path, AfterValidator(_check_token_file)]
SecretFile = Annotated[FileSecret, BeforeValidator(_read_secret_file)]


def _check_header_name(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError("must be a header name: letters, digits and !#$%&'*+-.^_`|~")
    return name


def _check_header_value(value: SecretStr) -> SecretStr:
    if not _HEADER_VALUE.fullmatch(value.get_secret_value()):
        raise ValueError(HEADER_VALUE_RULE)
    return value


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
HeaderValue = Annotated[SecretStr, AfterValidator(_check_header_value)]


def _check_http_url(url: str) -> str:
    if not url.isprintable() or any(c.isspace() for c in url):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("has an invalid port") from None
    try:
        httpx.URL(url)  # what the client will parse: an invalid IDNA host, for one
    except (httpx.InvalidURL, UnicodeError):
        raise ValueError("is not a valid URL") from None
    return url.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]


def _check_no_userinfo(url: str) -> str:
    if "@" in urlsplit(url).netloc:
        raise ValueError(
            "must not carry user info (user:password@): this backend authenticates with its "
            "credentials"
        )
    return url


SignedHttpUrl = Annotated[HttpUrl, AfterValidator(_check_no_userinfo)]


def redact_url(url: str) -> str:
    """The URL without user info, query or fragment, safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")


def parse_listen_address(address: str) -> tuple[str, int]:
    """``:9760``, ``127.0.0.1:9760`` or ``[::1]:9760`` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError("must be host:port or :port, with a port from 1 to 65535")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host and not _HOST_NAME.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError("must be host:port with an IP address or host name") from None
    return host, int(port)


def _check_listen_address(address: str) -> str:
    parse_listen_address(address)
    return address


ListenAddress = Annotated[str, AfterValidator(_check_listen_address)]


def _empty_if_none(value: Any) -> Any:
    """A YAML section left with only comments is null: read it as an empty section."""
    return {} if value is None else value


EmptyIfNone = BeforeValidator(_empty_if_none)

# --- models ----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Web(_Strict):
    listen_address: ListenAddress = DEFAULT_LISTEN_ADDRESS
    config_file: Path | None = None  # TLS and basic auth, exporter-toolkit format


PerJobSeries = Literal["none", "active", "all"]


class Defaults(_Strict):
    poll_interval: Duration = 30.0
    timeout: Duration = 10.0
    retention: Duration = 86400.0
    per_job_series: PerJobSeries = "active"
    max_response_bytes: int = Field(default=128 * 2**20, gt=0)
    max_retry_after: Duration = 600.0


def _readable_file(path: Path) -> Path:
    """A regular file this process can read (a FIFO or device would hang or never end)."""
    try:
        check_regular_file(path, PEM_FILE_LIMIT)
    except FileProblem as err:
        raise ValueError(str(err)) from None
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]


def _check_host_name(name: str) -> str:
    if not _HOST_NAME.fullmatch(name):
        raise ValueError("must be a host name: letters, digits, - and .")
    return name


class TlsConfig(_Strict):
    """How a backend's TLS server is verified, as Prometheus' ``tls_config``."""

    ca_file: ReadableFile | None = None
    cert_file: ReadableFile | None = None
    key_file: ReadableFile | None = None
    server_name: Annotated[str, AfterValidator(_check_host_name)] | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _usable(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        try:
            ssl_context(self.settings())
        except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
            raise ValueError(f"unusable TLS files: {err}") from None
        return self

    def settings(self) -> TlsSettings:
        def text(path: Path | None) -> str | None:
            return str(path) if path is not None else None

        return TlsSettings(
            text(self.ca_file),
            text(self.cert_file),
            text(self.key_file),
            self.server_name,
            self.insecure_skip_verify,
        )


class BearerCredentials(_Strict):
    token: Secret | None = None
    token_file: SecretFile | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BearerCredentials:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        return self

    def bearer_token(self) -> str | None:
        secret = self.token or self.token_file
        return secret.get_secret_value() if secret else None


_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class _TargetBase(_Strict):
    name: str
    poll_interval: Duration | None = None
    timeout: Duration | None = None
    retention: Duration | None = None
    per_job_series: PerJobSeries | None = None
    max_response_bytes: int | None = Field(default=None, gt=0)
    max_retry_after: Duration | None = None
    tls: TlsConfig | None = None
    resources: tuple[Literal["jobs", "clusters"], ...] = ("jobs", "clusters")

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _TARGET_NAME.fullmatch(name):
            raise ValueError(
                "must be 1-64 characters: letters, digits and _ . : -, starting with a "
                "letter or digit"
            )
        return name

    @field_validator("resources")
    @classmethod
    def _check_resources(cls, resources: tuple[str, ...]) -> tuple[str, ...]:
        if not resources:
            raise ValueError("must name at least one of: jobs, clusters")
        return tuple(dict.fromkeys(resources))

    def endpoint_text(self) -> str:
        """Where this target is polled, safe to print."""
        return ""

    def tls_settings(self) -> TlsSettings:
        return self.tls.settings() if self.tls is not None else TlsSettings()

    def auth_text(self) -> str:
        """How this target authenticates, safe to print: never a secret value."""
        return "none"

    def with_defaults(self, defaults: Defaults) -> _TargetBase:
        """This target with every unset setting taken from ``defaults``."""
        inherited = {
            key: getattr(defaults, key)
            for key in Defaults.model_fields
            if getattr(self, key) is None
        }
        return self.model_copy(update=inherited)


class RayTarget(_TargetBase):
    """A Ray dashboard (``ray``) or openYuanrong frontend (``openyuanrong``).

    One credential source: user info in ``url`` (basic auth), ``credentials`` (a bearer token)
    or an ``Authorization`` entry in ``headers``; each would replace the other silently."""

    backend: Literal["ray", "openyuanrong"]
    url: HttpUrl
    credentials: Annotated[BearerCredentials, EmptyIfNone] = BearerCredentials()
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _distinct_headers(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        seen: set[str] = set()
        for name in headers:
            if name.lower() in seen:
                raise ValueError(f"{name} is given twice (header names ignore case)")
            seen.add(name.lower())
        return headers

    @model_validator(mode="after")
    def _one_credential_source(self) -> RayTarget:
        token_field = "token_file" if self.credentials.token_file is not None else "token"
        sources = [
            text
            for text, present in (
                ("user info in url", self.userinfo()),
                (f"credentials.{token_field}", self.credentials.bearer_token()),
                (f"headers.{self._authorization_header()}", self._authorization_header()),
            )
            if present
        ]
        if len(sources) > 1:
            raise ValueError(f"more than one credential source ({', '.join(sources)}): keep one")
        return self

    def userinfo(self) -> bool:
        """Whether ``url`` carries user info, which the client sends as basic auth."""
        return "@" in urlsplit(self.url).netloc

    def _authorization_header(self) -> str | None:
        return next((name for name in self.headers if name.lower() == "authorization"), None)

    def endpoint_text(self) -> str:
        return redact_url(self.url)

    def auth_text(self) -> str:
        token = self.credentials.token_file or self.credentials.token
        if self.userinfo():
            auth = "basic auth (user and password from the URL)"
        elif self.credentials.bearer_token():
            source = f"file {token.path}" if isinstance(token, FileSecret) else "credentials.token"
            auth = f"Authorization: Bearer token (from {source})"
        elif header := self._authorization_header():
            auth = f"{header} header (from headers)"
        else:
            auth = "none"
        others = sorted(name for name in self.headers if name.lower() != "authorization")
        if others:
            auth += f"; headers: {', '.join(others)}"
        return auth


def _check_environment_credentials(*names: str) -> None:
    """Keys taken from the environment must be sendable too (checked when they are set)."""
    for name in names:
        value = os.environ.get(name)
        if value and not is_credential(value):
            raise ValueError(f"credentials: environment variable {name} {CREDENTIAL_RULE}")


class AlibabaCredentials(_Strict):
    """Keys from here (each also as ``*_file``); else ALIBABA_CLOUD_* variables; else RRSA."""

    access_key_id: Secret | None = None
    access_key_id_file: SecretFile | None = None
    access_key_secret: Secret | None = None
    access_key_secret_file: SecretFile | None = None
    security_token: Secret | None = None
    security_token_file: SecretFile | None = None
    sts_endpoint: SignedHttpUrl | None = None

    @model_validator(mode="after")
    def _pairs(self) -> AlibabaCredentials:
        for name in ("access_key_id", "access_key_secret", "security_token"):
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"set {name} or {name}_file, not both")
        if bool(self.value("access_key_id")) != bool(self.value("access_key_secret")):
            raise ValueError("access_key_id and access_key_secret go together")
        return self

    def value(self, name: str) -> str | None:
        secret = getattr(self, name) or getattr(self, f"{name}_file")
        return secret.get_secret_value() if secret else None

    def source(self, field: str) -> str:
        return "file" if getattr(self, f"{field}_file") is not None else "config"


class EmrFilters(_Strict):
    name: str | None = None
    task_biz_id: str | None = None


_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")
_WORKSPACE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class EmrServerlessTarget(_TargetBase):
    """Ray jobs and Ray clusters of an EMR Serverless Spark workspace."""

    backend: Literal["emr_serverless"]
    workspace_id: str
    region: str | None = None
    network: Literal["public", "vpc"] = "public"
    endpoint: SignedHttpUrl | None = None
    credentials: Annotated[AlibabaCredentials, EmptyIfNone] = AlibabaCredentials()
    filters: Annotated[EmrFilters, EmptyIfNone] = EmrFilters()
    requests_per_second: float = Field(default=5.0, gt=0)
    full_list_interval: Duration = 3600.0
    max_pages: int = Field(default=10_000, gt=0)

    @field_validator("region")
    @classmethod
    def _check_region(cls, region: str | None) -> str | None:
        if region is not None and not _REGION.fullmatch(region):
            raise ValueError("must be a region id such as cn-hangzhou")
        return region

    @field_validator("workspace_id")
    @classmethod
    def _check_workspace(cls, workspace: str) -> str:
        if not _WORKSPACE.fullmatch(workspace):
            raise ValueError("must be a workspace id such as w-d2d82aa09155")
        return workspace

    @model_validator(mode="after")
    def _where(self) -> EmrServerlessTarget:
        if self.region is None and self.endpoint is None:
            raise ValueError("set region (or endpoint)")
        provider = self.credential_provider()
        if provider is None:
            raise ValueError(
                "credentials: none found: set credentials.access_key_id and access_key_secret "
                "(or their *_file), or ALIBABA_CLOUD_ACCESS_KEY_ID and "
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET, or RRSA's ALIBABA_CLOUD_ROLE_ARN, "
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE"
            )
        if getattr(provider, "source", "").startswith("environment"):
            _check_environment_credentials(
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "ALIBABA_CLOUD_SECURITY_TOKEN",
            )
        return self

    def credential_provider(self) -> CredentialProvider | None:
        """Where this target's keys come from, resolved as the Alibaba SDKs do."""
        creds = self.credentials
        return alibaba_credentials.resolve(
            creds.value("access_key_id"),
            creds.value("access_key_secret"),
            creds.value("security_token"),
            creds.sts_endpoint,
            os.environ,
        )

    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint
        host = "emr-serverless-spark-vpc" if self.network == "vpc" else "emr-serverless-spark"
        return f"https://{host}.{self.region}.aliyuncs.com"

    def endpoint_text(self) -> str:
        return f"{redact_url(self.base_url())} workspace={self.workspace_id}"

    def auth_text(self) -> str:
        provider = self.credential_provider()
        return f"ACS3 access key ({getattr(provider, 'source', 'unknown')})"


class HuaweiCredentials(_Strict):
    """AK/SK (each also as ``*_file``) or an IAM token; else HUAWEICLOUD_SDK_* variables."""

    access_key: Secret | None = None
    access_key_file: SecretFile | None = None
    secret_key: Secret | None = None
    secret_key_file: SecretFile | None = None
    security_token: Secret | None = None
    security_token_file: SecretFile | None = None
    auth_token: Secret | None = None
    auth_token_file: TokenFilePath | None = None  # re-read when it changes

    @model_validator(mode="after")
    def _pairs(self) -> HuaweiCredentials:
        for name in ("access_key", "secret_key", "security_token"):
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"set {name} or {name}_file, not both")
        if self.auth_token is not None and self.auth_token_file is not None:
            raise ValueError("set auth_token or auth_token_file, not both")
        if bool(self.value("access_key")) != bool(self.value("secret_key")):
            raise ValueError("access_key and secret_key go together")
        return self

    def value(self, name: str) -> str | None:
        secret = getattr(self, name) or getattr(self, f"{name}_file", None)
        return secret.get_secret_value() if secret else None


class ModelArtsFilters(_Strict):
    id: str | None = None
    name: str | None = None
    type: str | None = None
    status: str | None = None
    visible: bool | None = None


_PROJECT = re.compile(r"[A-Za-z0-9-]{1,64}")


class ModelArtsLiteTarget(_TargetBase):
    """The job list of Huawei Cloud ModelArts Lite Servers in one project."""

    backend: Literal["modelarts_lite"]
    project_id: str | None = None
    region: str | None = None
    endpoint: SignedHttpUrl | None = None
    credentials: Annotated[HuaweiCredentials, EmptyIfNone] = HuaweiCredentials()
    filters: Annotated[ModelArtsFilters, EmptyIfNone] = ModelArtsFilters()
    requests_per_second: float = Field(default=5.0, gt=0)
    full_list_interval: Duration = 600.0
    job_type_cap: int = Field(default=30, gt=0)
    resources: tuple[Literal["jobs"], ...] = ("jobs",)

    @field_validator("region")
    @classmethod
    def _check_region(cls, region: str | None) -> str | None:
        if region is not None and not _REGION.fullmatch(region):
            raise ValueError("must be a region id such as cn-north-4")
        return region

    @model_validator(mode="after")
    def _complete(self) -> ModelArtsLiteTarget:
        if self.region is None and self.endpoint is None:
            raise ValueError("set region (or endpoint)")
        project = self.project()
        if not project:
            raise ValueError("project_id: required (or set HUAWEICLOUD_SDK_PROJECT_ID)")
        if not _PROJECT.fullmatch(project):
            raise ValueError("project_id: must be 1-64 letters, digits or hyphens")
        found = self.auth()
        if found is None:
            raise ValueError(
                "credentials: none found: set credentials.access_key and secret_key (or their "
                "*_file), or credentials.auth_token (or auth_token_file), or "
                "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"
            )
        if found[0].endswith("(environment)"):
            _check_environment_credentials(
                "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"
            )
        return self

    def project(self) -> str:
        return self.project_id or os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID", "")

    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint
        domain = "myhuaweicloud.cn" if self.region == "ap-southeast-1" else "myhuaweicloud.com"
        return f"https://modelarts.{self.region}.{domain}"

    def auth(self) -> tuple[str, HuaweiKey | str | Path] | None:
        """(how, key, token or token file) as found first: config keys, config token, the
        HUAWEICLOUD_SDK_* variables; None when there is nothing."""
        creds = self.credentials
        if creds.value("access_key") and creds.value("secret_key"):
            key = HuaweiKey(
                creds.value("access_key"), creds.value("secret_key"), creds.value("security_token")
            )
            return "AK/SK signature (config)", key
        if creds.auth_token is not None:
            return "IAM token (config)", creds.auth_token.get_secret_value()
        if creds.auth_token_file is not None:
            return "IAM token (file)", creds.auth_token_file
        ak, sk = os.environ.get("HUAWEICLOUD_SDK_AK"), os.environ.get("HUAWEICLOUD_SDK_SK")
        if ak and sk:
            token = os.environ.get("HUAWEICLOUD_SDK_SECURITY_TOKEN") or None
            return "AK/SK signature (environment)", HuaweiKey(ak, sk, token)
        return None

    def endpoint_text(self) -> str:
        return f"{redact_url(self.base_url())} project={self.project()}"

    def auth_text(self) -> str:
        found = self.auth()
        if found and isinstance(found[1], Path):
            return f"{found[0]} {found[1]}"
        return found[0] if found else "none"


Target = Annotated[
    RayTarget | EmrServerlessTarget | ModelArtsLiteTarget, Field(discriminator="backend")
]
BACKEND_NAMES = ("ray", "openyuanrong", "emr_serverless", "modelarts_lite")


def _check_state_path(path: Path) -> Path:
    """An existing state file must be a regular file: it is read whole and replaced by rename."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    except OSError as err:
        raise ValueError(f"cannot use {path}: {err.strerror or type(err).__name__}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file")
    return path


class Config(_Strict):
    web: Annotated[Web, EmptyIfNone] = Web()
    defaults: Annotated[Defaults, EmptyIfNone] = Defaults()
    state_file: Annotated[Path, AfterValidator(_check_state_path)] | None = None
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _resolve_targets(self) -> Config:
        seen: set[str] = set()
        for index, target in enumerate(self.targets):
            if target.name in seen:
                raise ValueError(f"targets[{index}].name: duplicate target name {target.name!r}")
            seen.add(target.name)
        resolved = [target.with_defaults(self.defaults) for target in self.targets]
        object.__setattr__(self, "targets", resolved)
        return self


# --- loading ---------------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


MAX_KEY_LENGTH = 64


def _path_text(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        part = str(part)
        if len(part) > MAX_KEY_LENGTH:
            part = part[: MAX_KEY_LENGTH - 1] + "…"
        text += f".{part}" if text else part
    return text or "(top level)"


def expand_env(node: Any, environ: dict[str, str], problems: list[str], path=()) -> Any:
    """Expand ``${NAME}`` and ``${NAME:-default}`` in every string; ``$$`` is a literal ``$``."""
    if isinstance(node, dict):
        return {
            key: expand_env(value, environ, problems, (*path, key)) for key, value in node.items()
        }
    if isinstance(node, list):
        return [expand_env(value, environ, problems, (*path, i)) for i, value in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                problems.append(f"{_path_text(path)}: environment variable {name} is not set")
                return ""
            return default
        return value

    return _ENV_REF.sub(substitute, node)


def _error_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pydantic's location without its own markers: the backend tag after a target index
    (``targets.0.ray.url``) and ``[key]`` after a mapping key."""
    return tuple(
        part
        for i, part in enumerate(loc)
        if part != "[key]" and not (part in BACKEND_NAMES and i >= 2 and loc[i - 2] == "targets")
    )


# pydantic's wording where it names Python types
_MESSAGES = {
    "extra_forbidden": "unknown key",
    "path_type": "must be a file path",
    "model_type": "must be a mapping of settings",
    "model_attributes_type": "must be a mapping of settings",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "string_type": "must be a string",
}


def _error_line(error: dict[str, Any]) -> str:
    loc = list(_error_loc(tuple(error["loc"])))
    kind, message = error["type"], error["msg"]
    if kind in _MESSAGES:
        message = _MESSAGES[kind]
    elif kind in ("missing", "union_tag_not_found"):
        message = "required"
    elif kind == "union_tag_invalid":
        message = f"must be one of: {', '.join(BACKEND_NAMES)}"
    if kind.startswith("union_tag"):
        loc.append("backend")
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if message.startswith("targets[") and ": " in message:
        return message
    return f"{_path_text(tuple(loc))}: {message}"


def parse_config(data: Any, environ: dict[str, str] | None = None) -> Config:
    """Validate an already-parsed YAML document; raise ConfigError listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): must be a mapping of settings"])
    problems: list[str] = []
    data = expand_env(data, dict(os.environ if environ is None else environ), problems)
    if problems:
        raise ConfigError(problems)
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError([_error_line(e) for e in err.errors(include_input=False)]) from None


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    """Read and validate the YAML config file at ``path``: the one path taken by
    ``--check-config``, start and reload. Every problem is a ConfigError, never a traceback."""
    try:
        text = read_text_file(path, CONFIG_FILE_LIMIT)
        return parse_config(load_yaml(text), environ)
    except ConfigError:
        raise
    except FileProblem as err:
        raise ConfigError([f"config file: {err}"]) from None
    except YamlProblem as err:
        raise ConfigError([f"{path}: {err}"]) from None
    except Exception as err:  # a last resort: whatever it is, a line naming its kind, no value
        raise ConfigError(
            [f"{path}: cannot load the configuration ({type(err).__name__})"]
        ) from None
