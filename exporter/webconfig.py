"""``--web.config.file``: TLS and basic auth in the exporter-toolkit web-config format.

    tls_server_config:
      cert_file: server.crt                          # relative paths: from the file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # mTLS; or NoClientCert (default), ...
      client_ca_file: ca.crt
      min_version: TLS12                             # or TLS13
    basic_auth_users:
      prometheus: $2y$10$...                         # bcrypt hashes (htpasswd -nBC 10)

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
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .basicauth import CACHE_SIZE, BasicAuth, PasswordCheck, bcrypt_check
from .config_files import (
    CONFIG_FILE_LIMIT,
    PEM_FILE_LIMIT,
    FileProblem,
    check_regular_file,
    read_text_file,
)
from .config_types import ConfigError
from .yaml_loader import YamlProblem, load_yaml

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

    def files(self) -> tuple[Path, ...]:
        """The files the TLS context is built from."""
        return (self.cert_file, self.key_file) + (
            (self.client_ca_file,) if self.client_ca_file else ()
        )


class WebConfig(_Strict):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, str] | None = None


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
        raise ConfigError(
            [
                f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in err.errors(include_input=False)
            ]
        ) from None
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

    def authorized(self, header: str | None) -> bool:
        """Check an ``Authorization`` header against basic_auth_users (True when none set)."""
        auth = self._current().auth
        return auth is None or auth.authorized(header)

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
