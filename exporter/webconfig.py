"""``--web.config.file``: TLS and basic auth in the exporter-toolkit web-config format.

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # mTLS; or NoClientCert (default), ...
      client_ca_file: ca.crt
      min_version: TLS12                             # or TLS13
    basic_auth_users:
      prometheus: $2y$10$...                         # bcrypt hashes (htpasswd -nBC 10)

The file is re-read when it changes: users at the next request, certificates at the next
handshake. Passwords are checked with bcrypt also for unknown users, so a wrong user name and a
wrong password take the same time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import ssl
import threading
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .config import ConfigError

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
_DUMMY_HASH = bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=10))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsServerConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_auth_type: Literal[tuple(CLIENT_AUTH)] = "NoClientCert"  # type: ignore[valid-type]
    client_ca_file: Path | None = None
    min_version: Literal[tuple(VERSIONS)] = "TLS12"  # type: ignore[valid-type]
    max_version: Literal[tuple(VERSIONS)] | None = None  # type: ignore[valid-type]


class WebConfig(_Strict):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, str] | None = None


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web-config file; ConfigError lists every problem."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        config = WebConfig.model_validate(data)
    except OSError as err:
        raise ConfigError([f"{path}: cannot read web config: {err.strerror or err}"]) from None
    except yaml.YAMLError:
        raise ConfigError([f"{path}: invalid YAML"]) from None
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
        _context(tls)  # fail now on unreadable or mismatched certificates
    for user, hashed in (config.basic_auth_users or {}).items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError([f"{path}: basic_auth_users.{user}: not a bcrypt hash"])
    return config


def _context(tls: TlsServerConfig, context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    context = context or ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
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


class WebSecurity:
    """The live web config: the TLS context to wrap the listener with, and the auth check."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.config = load_web_config(self.path)
        self._mtime = os.stat(self.path).st_mtime_ns
        tls = self.config.tls_server_config
        self.context = _context(tls) if tls else None

    def _refresh(self) -> None:
        """Re-read the file if it changed; a broken new file is logged and the old one kept."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return
        with self._lock:
            if mtime == self._mtime:
                return
            self._mtime = mtime
            try:
                config = load_web_config(self.path)
                if config.tls_server_config and self.context is not None:
                    _context(config.tls_server_config, self.context)
            except ConfigError as err:
                log.error("web config not reloaded: %s", "; ".join(err.problems))
                return
            self.config = config
            log.info("web config reloaded from %s", self.path)

    def authorized(self, header: str | None) -> bool:
        """Check an ``Authorization`` header against basic_auth_users (True when none set)."""
        self._refresh()
        users = self.config.basic_auth_users
        if not users:
            return True
        user, password = "", ""
        if header and header.startswith("Basic "):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        hashed = users.get(user)
        # one bcrypt check whether or not the user exists: no timing difference to learn from
        matches = bcrypt.checkpw(password.encode(), hashed.encode() if hashed else _DUMMY_HASH)
        return matches and hashed is not None
