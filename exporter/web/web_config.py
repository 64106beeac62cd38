"""``--web.config.file``: TLS and basic auth in the exporter-toolkit web-config format.

    tls_server_config:
      cert_file: server.crt                          # relative paths: from the file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # mTLS; or NoClientCert (default), ...
      client_ca_file: ca.crt
      min_version: TLS12                             # or TLS13; max_version too
      cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]   # Go's names; TLS 1.2 only
      prefer_server_cipher_suites: true
    http_server_config:
      headers:                                       # added to every response
        Strict-Transport-Security: max-age=31536000
    basic_auth_users:
      prometheus: $2y$10$...                         # bcrypt hashes (htpasswd -nBC 10)
    auth_excluded_paths: [/healthz]                  # served without basic auth

Keys of the toolkit's format this exporter does not implement (inline ``cert``, ``key`` and
``client_ca``, ``curve_preferences``, ``client_allowed_sans``, ``rate_limit``) are refused by
name, never ignored.

The web-config file and the certificate, key and client CA files it names are watched: when
any of them changes (modification time, size or inode), the next connection or request reads
them all again into a fresh TLS context and a fresh credentials cache, so a rotated client CA
stops trusting the old one at once. A broken new version is logged and the old one kept.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from exporter.config.files import (
    CONFIG_FILE_LIMIT,
    PEM_FILE_LIMIT,
    FileProblem,
    check_regular_file,
    read_text_file,
)
from exporter.config.types import ConfigError
from exporter.config.yaml_loader import YamlProblem, load_yaml
from exporter.web.basic_auth import CACHE_SIZE, BasicAuth, PasswordCheck, bcrypt_check

log = logging.getLogger(__name__)

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1}
VERSIONS |= {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# Go's names of the suites crypto/tls offers (tls.CipherSuites()), as OpenSSL names them. TLS
# 1.3's three are accepted and change nothing: neither Go nor OpenSSL lets them be chosen here.
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_AES_128_GCM_SHA256": "",
    "TLS_AES_256_GCM_SHA384": "",
    "TLS_CHACHA20_POLY1305_SHA256": "",
}
# The headers the toolkit lets a web config add, with their allowed values where it fixes them
EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
# keys of the toolkit's format that are known and not implemented: refused with this reason
UNSUPPORTED = {
    "cert": "inline certificates are not supported: use cert_file",
    "key": "inline keys are not supported: use key_file",
    "client_ca": "inline CAs are not supported: use client_ca_file",
    "curve_preferences": "not supported (Python's TLS cannot set a curve list): remove it",
    "client_allowed_sans": "not supported: restrict clients with client_ca_file instead",
    "rate_limit": "not supported: rate-limit in front of the exporter",
}
BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsServerConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_auth_type: Literal[tuple(CLIENT_AUTH)] = "NoClientCert"  # type: ignore[valid-type]
    client_ca_file: Path | None = None
    min_version: Literal[tuple(VERSIONS)] = "TLS12"  # type: ignore[valid-type]
    max_version: Literal[tuple(VERSIONS)] | None = None  # type: ignore[valid-type]
    cipher_suites: tuple[Literal[tuple(CIPHER_SUITES)], ...] = ()  # type: ignore[valid-type]
    prefer_server_cipher_suites: bool = True

    def files(self) -> tuple[Path, ...]:
        """The files the TLS context is built from."""
        return (self.cert_file, self.key_file) + (
            (self.client_ca_file,) if self.client_ca_file else ()
        )


class HttpServerConfig(_Strict):
    headers: dict[str, str] = {}
    http2: bool = True  # accepted either way: the exporter speaks HTTP/1.1 only

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name not in EXTRA_HEADERS:
                raise ValueError(
                    f"{name!r} cannot be set (one of: {', '.join(EXTRA_HEADERS)})"[:200]
                )
            allowed = EXTRA_HEADERS[name]
            if allowed and value not in allowed:
                raise ValueError(f"{name}: must be one of {', '.join(allowed)}")
            if not value.isprintable() or not value.isascii():
                raise ValueError(f"{name}: must be printable ASCII")
        return headers


class WebConfig(_Strict):
    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = HttpServerConfig()
    basic_auth_users: dict[str, str] | None = None
    auth_excluded_paths: tuple[str, ...] = ()


def _check_files(tls: TlsServerConfig) -> list[str]:
    """``ssl`` reads certificate files by path: a FIFO or /dev/zero must not reach it."""
    problems = []
    for field in ("cert_file", "key_file", "client_ca_file"):
        path = getattr(tls, field)
        if path is not None:
            try:
                check_regular_file(path, PEM_FILE_LIMIT)
            except FileProblem as err:
                problems.append(f"tls_server_config.{field}: {err}")
    return problems


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web-config file; ConfigError lists every problem. The certificate
    files are read by :func:`tls_context`."""
    path = Path(path)
    try:
        return _load_web_config(path)
    except ConfigError:
        raise
    except Exception as err:  # a last resort: whatever it is, a line naming its kind, no value
        raise ConfigError([f"{path}: cannot load the web config ({type(err).__name__})"]) from None


def _load_web_config(path: Path) -> WebConfig:
    try:
        config = WebConfig.model_validate(load_yaml(read_text_file(path, CONFIG_FILE_LIMIT)) or {})
    except FileProblem as err:
        raise ConfigError([f"web config: {err}"]) from None
    except YamlProblem as err:
        raise ConfigError([f"{path}: {err}"]) from None
    except ValidationError as err:
        problems = [f"{path}: {_problem(e)}" for e in err.errors(include_input=False)]
        raise ConfigError(problems) from None
    tls = config.tls_server_config
    if tls is not None:
        if tls.client_auth_type == "RequireAndVerifyClientCert" and tls.client_ca_file is None:
            raise ConfigError([f"{path}: client_ca_file is required to verify client certs"])
        base = path.parent
        tls = tls.model_copy(
            update={
                "cert_file": base / tls.cert_file,
                "key_file": base / tls.key_file,
                "client_ca_file": base / tls.client_ca_file if tls.client_ca_file else None,
            }
        )
        config = config.model_copy(update={"tls_server_config": tls})
    for user, hashed in (config.basic_auth_users or {}).items():
        if not BCRYPT_HASH.fullmatch(hashed):
            raise ConfigError([f"{path}: basic_auth_users.{user}: not a bcrypt hash"])
    return config


def _problem(error: Any) -> str:
    """One validation error as a line naming the key; a toolkit key not implemented says so."""
    where = ".".join(str(p)[:80] for p in error["loc"])
    key = str(error["loc"][-1]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        return f"{where}: {UNSUPPORTED.get(key, 'unknown key')}"
    return f"{where}: {error['msg']}"


def tls_context(tls: TlsServerConfig) -> ssl.SSLContext:
    """A new server-side SSLContext from the files ``tls`` names, read now."""
    problems = _check_files(tls)
    if problems:
        raise ConfigError(problems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.minimum_version = VERSIONS[tls.min_version]
        if tls.max_version:
            context.maximum_version = VERSIONS[tls.max_version]
        suites = [CIPHER_SUITES[name] for name in tls.cipher_suites if CIPHER_SUITES[name]]
        if suites:
            context.set_ciphers(":".join(suites))
        if tls.prefer_server_cipher_suites:
            context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        context.load_cert_chain(tls.cert_file, tls.key_file)
        context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
        if tls.client_ca_file is not None:
            context.load_verify_locations(tls.client_ca_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError([f"TLS: cannot load certificates: {err}"]) from None
    return context


FileStamp = tuple[int, int, int] | None


def _stamp(path: Path) -> FileStamp:
    """What tells a changed file from the same one, with a single stat (symlinks followed)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _files(config: WebConfig) -> tuple[Path, ...]:
    tls = config.tls_server_config
    return tls.files() if tls else ()


@dataclass(frozen=True)
class _Settings:
    """One reading of the web config and its files."""

    config: WebConfig
    context: ssl.SSLContext | None
    auth: BasicAuth | None


class WebSecurity:
    """The live web config: the TLS context for each new connection, and the auth check.

    Whether the server speaks TLS at all is fixed at start; adding or removing
    ``tls_server_config`` later is refused until a restart.
    """

    def __init__(
        self,
        path: str | Path,
        check: PasswordCheck = bcrypt_check,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.path = Path(path)
        self._check = check
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._settings = self._read()
        self._seen = self._stamps(self._settings.config)

    @property
    def config(self) -> WebConfig:
        return self._settings.config

    @property
    def tls(self) -> bool:
        """Whether connections are TLS (decided at start)."""
        return self._settings.context is not None

    def tls_context(self) -> ssl.SSLContext | None:
        """The context for a connection accepted now: re-read first if any file changed."""
        return self._current().context

    def authorized(self, header: str | None, path: str = "") -> bool:
        """Check an ``Authorization`` header against basic_auth_users (True when none set, or
        for a path in ``auth_excluded_paths``)."""
        settings = self._current()
        if settings.auth is None or path in settings.config.auth_excluded_paths:
            return True
        return settings.auth.authorized(header)

    def headers(self) -> dict[str, str]:
        """The headers every response carries (``http_server_config.headers``), as of the
        last look at the files: the request's auth check or its connection's TLS context
        looked just before, so a response costs no second round of ``stat`` calls."""
        return self._settings.config.http_server_config.headers

    def _stamps(self, config: WebConfig) -> tuple[FileStamp, ...]:
        return (_stamp(self.path), *(_stamp(p) for p in _files(config)))

    def _read(self) -> _Settings:
        config = load_web_config(self.path)
        tls = config.tls_server_config
        users = config.basic_auth_users
        return _Settings(
            config=config,
            context=tls_context(tls) if tls else None,
            auth=BasicAuth(users, self._check, self._cache_size) if users else None,
        )

    def _current(self) -> _Settings:
        """The settings in force, re-read when a watched file changed since the last look."""
        settings = self._settings
        stamps = self._stamps(settings.config)
        if stamps == self._seen:
            return settings
        with self._lock:
            settings = self._settings
            stamps = self._stamps(settings.config)
            if stamps == self._seen:
                return settings
            self._seen = stamps  # a broken version is reported once, not at every request
            try:
                fresh = self._read()
                if (fresh.context is None) != (settings.context is None):
                    raise ConfigError(["adding or removing tls_server_config needs a restart"])
            except ConfigError as err:
                log.error("web config not reloaded: %s", "; ".join(err.problems))
                return settings
            if _files(fresh.config) != _files(settings.config):
                self._seen = self._stamps(fresh.config)  # it names other files: watch those
            self._settings = fresh
            log.info("web config reloaded from %s", self.path)
            return fresh
