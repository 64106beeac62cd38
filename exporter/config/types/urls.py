"""URLs a target is polled at: checked as the HTTP client will parse them, and redacted
for printing (user info, path parameters, query and fragment can carry credentials)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator


def _check_url_as_given(url: str) -> str:
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
    return url


def _check_http_url(url: str) -> str:
    return _check_url_as_given(url).rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]  # a base URL: its paths are added
ExactHttpUrl = Annotated[str, AfterValidator(_check_url_as_given)]  # requested as it is


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
