"""A kubeconfig file read into a KubeRay target's settings, as kubectl reads it.

``kubeconfig: <path>`` (with ``context:``, else the file's ``current-context``) gives the
target its API server (``clusters[].cluster.server``), how that server is verified
(``certificate-authority`` or ``certificate-authority-data``, ``insecure-skip-tls-verify``,
``tls-server-name``) and the user's credentials (``token``, or ``tokenFile``, re-read when it
changes, and ``client-certificate``/``client-key`` or their ``-data``). A relative path in the
file is relative to the file's directory, as kubectl resolves it. PEM given inline stays in
memory (``TlsSettings``' ``*_data``). Credential plugins (``exec``, ``auth-provider``), basic
auth, impersonation and ``proxy-url`` are refused: the exporter would not reach the server as
kubectl does.

The file is read when the configuration is loaded (and at each reload). Problems name the
file, the context, cluster and user, and the key; never a value from ``users``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from exporter.config.files import (
    CREDENTIAL_RULE,
    PEM_FILE_LIMIT,
    FileProblem,
    check_regular_file,
    is_credential,
    read_secret_file,
    read_text_file,
)
from exporter.config.types import HOST_NAME, HttpUrl
from exporter.config.yaml_loader import YamlProblem, load_yaml
from exporter.http.tls import TlsSettings, ssl_context

KUBECONFIG_FILE_LIMIT = 4 * 1024 * 1024  # PEM inline for every cluster and user: ample
SUPPORTED = "token, tokenFile, client-certificate and client-key (or their -data)"
_REFUSED_USER_KEYS = {
    "exec": "a credential plugin (exec)",
    "auth-provider": "an auth provider plugin (auth-provider)",
    "username": "basic auth (username, password)",
    "password": "basic auth (username, password)",
    "as": "impersonation (as)",
    "as-uid": "impersonation (as-uid)",
    "as-groups": "impersonation (as-groups)",
    "as-user-extra": "impersonation (as-user-extra)",
}
_MAX_NAME_SHOWN = 128
_MAX_NAMES_SHOWN = 8
_URL = TypeAdapter(HttpUrl)


def shown(name: str) -> str:
    """A name from the file as it is printed: quoted, escaped and cut, as kubectl quotes."""
    return json.dumps(name[:_MAX_NAME_SHOWN], ensure_ascii=False)


@dataclass(frozen=True)
class Kubeconfig:
    """What a target took from a kubeconfig besides its URL and token: where from (names,
    safe to print) and the TLS settings (CA, client certificate, inline PEM included)."""

    path: str
    context: str
    cluster: str
    user: str
    tls: TlsSettings

    def origin(self) -> str:
        return f"kubeconfig {self.path}, context {shown(self.context)}, user {shown(self.user)}"


def read_kubeconfig(path: str, context: str | None) -> tuple[Kubeconfig, dict[str, Any]]:
    """The kubeconfig at ``path`` read for ``context`` (else its ``current-context``): where
    the settings came from, and the target settings it gives (``url``, ``credentials``).
    ValueError says what is wrong."""
    where = f"kubeconfig {path}"
    document = _document(path, where)
    name = context or _text(document, "current-context", where)
    if name is None:
        raise ValueError(f"{where}: no current-context: set context (the context to use)")
    chosen = _entry(document, "context", name, where)
    where += f", context {shown(name)}"
    cluster_name = _text(chosen, "cluster", where)
    user_name = _text(chosen, "user", where)
    if cluster_name is None or user_name is None:
        raise ValueError(f"{where}: names no {'cluster' if cluster_name is None else 'user'}")
    base = Path(os.path.abspath(path)).parent  # kubectl resolves relative paths from here
    cluster_where = f"{where}, cluster {shown(cluster_name)}"
    server, verify = _cluster(_entry(document, "cluster", cluster_name, where), base, cluster_where)
    user_where = f"{where}, user {shown(user_name)}"
    credentials, client = _user(_entry(document, "user", user_name, where), base, user_where)
    tls = TlsSettings(**verify, **client)
    try:
        ssl_context(tls)
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        raise ValueError(f"{where}: unusable TLS settings: {err}") from None
    source = Kubeconfig(path, name, cluster_name, user_name, tls)
    return source, {"url": server, "credentials": credentials}


def _document(path: str, where: str) -> dict[str, Any]:
    try:
        document = load_yaml(read_text_file(path, KUBECONFIG_FILE_LIMIT))
    except FileProblem as err:
        raise ValueError(f"kubeconfig: {err}") from None
    except YamlProblem as err:
        raise ValueError(f"{where}: not YAML: {err}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{where}: not a kubeconfig (a mapping of clusters, contexts, users)")
    return document


def _entry(document: dict[str, Any], kind: str, name: str, where: str) -> dict[str, Any]:
    """The ``kind`` (``cluster``, ``context``, ``user``) named ``name`` in its list."""
    entries = document.get(f"{kind}s") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{where}: {kind}s must be a list of mappings with name and {kind}")
    found = [entry for entry in entries if entry.get("name") == name]
    if not found:
        names = [shown(str(entry.get("name"))) for entry in entries[:_MAX_NAMES_SHOWN]]
        more = ", …" if len(entries) > _MAX_NAMES_SHOWN else ""
        known = f" ({kind}s: {', '.join(names)}{more})" if names else f" (it has no {kind}s)"
        raise ValueError(f"{where}: {kind} {shown(name)} is not in the file{known}")
    if len(found) > 1:
        raise ValueError(f"{where}: {kind} {shown(name)} is named twice")
    settings = found[0].get(kind) or {}
    if not isinstance(settings, dict):
        raise ValueError(f"{where}: {kind} {shown(name)}: {kind} must be a mapping")
    return settings


def _text(settings: dict[str, Any], key: str, where: str) -> str | None:
    """The string at ``key``; None when absent or empty (as kubectl reads an empty one)."""
    value = settings.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key} must be a string")
    return value


def _path(settings: dict[str, Any], key: str, base: Path, where: str) -> str | None:
    """The file named at ``key``, relative to the kubeconfig's directory, and readable."""
    text = _text(settings, key, where)
    if text is None:
        return None
    path = str(base / text)  # an absolute ``text`` stays as it is
    try:
        if key == "tokenFile":
            read_secret_file(path)
        else:
            check_regular_file(path, PEM_FILE_LIMIT)
    except FileProblem as err:
        raise ValueError(f"{where}: {key}: {err}") from None
    return path


def _pem(settings: dict[str, Any], key: str, where: str) -> str | None:
    """The PEM text base64-encoded at ``key`` (a ``*-data``), decoded in memory."""
    text = _text(settings, key, where)
    if text is None:
        return None
    try:
        pem = base64.b64decode("".join(text.split()), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(f"{where}: {key} is not base64 of PEM text") from None
    if "-----BEGIN " not in pem:
        raise ValueError(f"{where}: {key} is not base64 of PEM text (no -----BEGIN)")
    return pem


def _cluster(cluster: dict[str, Any], base: Path, where: str) -> tuple[str, dict[str, Any]]:
    """The server's URL, and how it is verified (``TlsSettings`` fields)."""
    server = _text(cluster, "server", where)
    if server is None:
        raise ValueError(f"{where}: no server")
    try:
        server = _URL.validate_python(server)
    except ValidationError as err:
        problem = err.errors(include_input=False)[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where}: server {problem}") from None
    if _text(cluster, "proxy-url", where) is not None:
        raise ValueError(f"{where}: proxy-url is not supported (the server is called directly)")
    ca_file = _path(cluster, "certificate-authority", base, where)
    ca_data = _pem(cluster, "certificate-authority-data", where)
    if ca_file and ca_data:
        raise ValueError(f"{where}: certificate-authority and certificate-authority-data: set one")
    insecure = cluster.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise ValueError(f"{where}: insecure-skip-tls-verify must be true or false")
    if insecure and (ca_file or ca_data):
        raise ValueError(
            f"{where}: insecure-skip-tls-verify with a certificate authority: set one "
            "(kubectl refuses both too)"
        )
    server_name = _text(cluster, "tls-server-name", where)
    if server_name is not None and not HOST_NAME.fullmatch(server_name):
        raise ValueError(f"{where}: tls-server-name must be a host name")
    return server, {
        "ca_file": ca_file,
        "ca_data": ca_data,
        "server_name": server_name,
        "insecure_skip_verify": insecure,
    }


def _user(user: dict[str, Any], base: Path, where: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The user's bearer token (``credentials``), and its client certificate and key."""
    for key, method in _REFUSED_USER_KEYS.items():
        if user.get(key) not in (None, "", [], {}):
            raise ValueError(
                f"{where}: {method} is not supported; the exporter reads {SUPPORTED}. "
                "Give it a service account's token (a token Secret, or kubectl create token)"
            )
    credentials: dict[str, str] = {}
    token_file = _path(user, "tokenFile", base, where)
    token = _text(user, "token", where)
    if token_file is not None:  # kubectl too prefers the file (re-read) to the token
        credentials["token_file"] = token_file
    elif token is not None:
        if not is_credential(token):
            raise ValueError(f"{where}: token {CREDENTIAL_RULE}")
        credentials["token"] = token
    client = {
        "cert_file": _path(user, "client-certificate", base, where),
        "cert_data": _pem(user, "client-certificate-data", where),
        "key_file": _path(user, "client-key", base, where),
        "key_data": _pem(user, "client-key-data", where),
    }
    for name, path, data in (
        ("client-certificate", client["cert_file"], client["cert_data"]),
        ("client-key", client["key_file"], client["key_data"]),
    ):
        if path and data:
            raise ValueError(f"{where}: {name} and {name}-data: set one")
    has_cert = bool(client["cert_file"] or client["cert_data"])
    if has_cert != bool(client["key_file"] or client["key_data"]):
        raise ValueError(f"{where}: client-certificate and client-key go together (or their -data)")
    return credentials, client
