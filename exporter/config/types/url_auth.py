"""The credentials of an endpoint given by URL (a Ray dashboard, an http_sd endpoint): user
info in the URL (sent as basic auth), a bearer token (``credentials``), or an
``Authorization`` entry in ``headers``. One source only, since one would replace the other;
and how it is sent, safe to print."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from exporter.config.types.credentials import BearerCredentials, FileSecret


def has_userinfo(url: str) -> bool:
    """Whether ``url`` carries user info, which the client sends as basic auth."""
    return "@" in urlsplit(url).netloc


def authorization_header(headers: Iterable[str]) -> str | None:
    """The name of the ``Authorization`` header among ``headers``, as written."""
    return next((name for name in headers if name.lower() == "authorization"), None)


def check_one_credential_source(
    url: str, credentials: BearerCredentials, headers: Iterable[str]
) -> None:
    """ValueError naming them when more than one credential source is given."""
    header = authorization_header(headers)
    token_field = "token_file" if credentials.token_file is not None else "token"
    given = [
        text
        for text, present in (
            ("user info in url", has_userinfo(url)),
            (f"credentials.{token_field}", credentials.bearer_token()),
            (f"headers.{header}", header),
        )
        if present
    ]
    if len(given) > 1:
        raise ValueError(f"more than one credential source ({', '.join(given)}): keep one")


def auth_text(url: str, credentials: BearerCredentials, headers: Iterable[str]) -> str:
    """How the endpoint is asked, and the other headers sent: never a secret value."""
    names = list(headers)
    token = credentials.token_file or credentials.token
    if has_userinfo(url):
        auth = "basic auth (user and password from the URL)"
    elif credentials.bearer_token():
        source = f"file {token.path}" if isinstance(token, FileSecret) else "credentials.token"
        auth = f"Authorization: Bearer token (from {source})"
    elif header := authorization_header(names):
        auth = f"{header} header (from headers)"
    else:
        auth = "none"
    others = sorted(name for name in names if name.lower() != "authorization")
    return auth + (f"; headers: {', '.join(others)}" if others else "")
