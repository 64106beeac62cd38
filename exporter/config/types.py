"""The types a configuration is built from: value types (durations, secrets, URLs), TLS and
bearer settings, the defaults, and ``Target``, which each backend's target model extends.

Every backend module imports these; ``config`` builds the whole configuration from them and
from the backends' declarations.
"""

from __future__ import annotations

import os
import re
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
    field_validator,
    model_validator,
)

from exporter.config.files import (
    CREDENTIAL_RULE,
    PEM_FILE_LIMIT,
    FileProblem,
    check_regular_file,
    is_credential,
    read_secret_file,
)
from exporter.http.tls import TlsSettings, ssl_context
from exporter.ledger.attribution import label_name_problem

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


_PATH_PARAMETERS = re.compile(r";[^/]*")  # RFC 3986 3.3: ``;name=value`` ends a segment


def redact_url(url: str) -> str:
    """The URL without user info, path parameters (``/app;jsessionid=…/``, in any segment),
    query or fragment, safe to print: each of them may carry a credential."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{_PATH_PARAMETERS.sub('', parts.path)}"


HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")


def _empty_if_none(value: Any) -> Any:
    """A YAML section left with only comments is null: read it as an empty section."""
    return {} if value is None else value


EmptyIfNone = BeforeValidator(_empty_if_none)


# --- models ----------------------------------------------------------------------------------


class Strict(BaseModel):
    """A settings model: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PerJobSeries = Literal["none", "active", "all"]
MAX_LABEL_NAME_SHOWN = 64  # of a refused attribution label name, in a problem line
MAX_SOURCE_LENGTH = 256  # of an attribution source field: a metadata key is a short name


def _not_boolean(value: Any) -> Any:
    """A YAML ``true`` is no count: as an int it would read as 1."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


Count = Annotated[int, BeforeValidator(_not_boolean)]  # a count or size (``${NAME}`` too)


class AttributionSettings(Strict):
    """Labels that say who ran a job: label name -> a source field of the job, chosen from its
    backend's fields (docs/metrics.md, "Attribution"); at most ``max_values`` values per label
    and target, later ones become ``other``; ``histograms`` names the labels the duration and
    queue-wait histograms carry too."""

    labels: dict[str, str] = Field(default_factory=dict)
    max_values: Count = Field(default=50, gt=0, le=10_000)
    histograms: tuple[str, ...] = ()

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, source in labels.items():
            problem = label_name_problem(name)
            if problem is not None:
                raise ValueError(f"{one_line(name, MAX_LABEL_NAME_SHOWN)}: {problem}")
            if not source:
                raise ValueError(f"{name}: must name a source field")
            if len(source) > MAX_SOURCE_LENGTH or not source.isprintable():
                raise ValueError(
                    f"{name}: a source field is at most {MAX_SOURCE_LENGTH} printable characters"
                )
        return labels

    @model_validator(mode="after")
    def _histogram_labels(self) -> AttributionSettings:
        for index, name in enumerate(self.histograms):
            shown = one_line(name, MAX_LABEL_NAME_SHOWN)
            if name not in self.labels:
                raise ValueError(f"histograms: {shown} is not in labels")
            if name in self.histograms[:index]:  # twice would write the label twice
                raise ValueError(f"histograms: {shown} is named twice")
        return self


class Defaults(Strict):
    poll_interval: Duration = 30.0
    timeout: Duration = 10.0
    retention: Duration = 86400.0
    per_job_series: PerJobSeries = "active"
    max_response_bytes: Count = Field(default=128 * 2**20, gt=0)
    max_retry_after: Duration = 600.0
    max_departed_jobs: Count = Field(default=1_000_000, gt=0)
    attribution: Annotated[AttributionSettings, EmptyIfNone] = AttributionSettings()


def _readable_file(path: Path) -> Path:
    """A regular file this process can read (a FIFO or device would hang or never end)."""
    try:
        check_regular_file(path, PEM_FILE_LIMIT)
    except FileProblem as err:
        raise ValueError(str(err)) from None
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]


def _check_host_name(name: str) -> str:
    if not HOST_NAME.fullmatch(name):
        raise ValueError("must be a host name: letters, digits, - and .")
    return name


class TlsConfig(Strict):
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


class BearerCredentials(Strict):
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


class Target(Strict):
    """What every target has; each backend's target model extends it with a ``backend``
    field (a ``Literal`` of its names) and its own settings."""

    backend: str
    name: str
    poll_interval: Duration | None = None
    timeout: Duration | None = None
    retention: Duration | None = None
    per_job_series: PerJobSeries | None = None
    max_response_bytes: Count | None = Field(default=None, gt=0)
    max_retry_after: Duration | None = None
    max_departed_jobs: Count | None = Field(default=None, gt=0)
    attribution: AttributionSettings | None = None
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

    def identity(self) -> dict[str, object]:
        """The settings that decide which jobs this target sees (besides its backend): its
        counts go on while they stay the same. Never a secret."""
        return {}

    def tls_settings(self) -> TlsSettings:
        return self.tls.settings() if self.tls is not None else TlsSettings()

    def auth_text(self) -> str:
        """How this target authenticates, safe to print: never a secret value."""
        return "none"

    def with_defaults(self, defaults: Defaults) -> Target:
        """This target with every unset setting taken from ``defaults``."""
        inherited = {
            key: getattr(defaults, key)
            for key in Defaults.model_fields
            if getattr(self, key) is None
        }
        return self.model_copy(update=inherited)


def check_environment_credentials(*names: str) -> None:
    """Keys taken from the environment must be sendable too (checked when they are set)."""
    for name in names:
        value = os.environ.get(name)
        if value and not is_credential(value):
            raise ValueError(f"credentials: environment variable {name} {CREDENTIAL_RULE}")


REGION_ID = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")  # cn-hangzhou, cn-north-4
