"""Canonical forms shared by the cloud signing schemes (ACS3, SDK-HMAC)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote

import httpx

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def percent_encode(text: str) -> str:
    """UTF-8 percent-encoding that keeps only ``A-Za-z0-9-_.~`` (space is %20, ``*`` is %2A)."""
    return quote(text, safe="-_.~")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Pairs sorted by key then value, each ``key=value`` percent-encoded, joined by ``&``."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def query_pairs(raw_query: bytes) -> list[tuple[str, str]]:
    """Decode a query string as sent on the wire into (key, value) pairs."""
    return parse_qsl(raw_query.decode("ascii"), keep_blank_values=True)


def canonicalize_query(request: httpx.Request) -> list[tuple[str, str]]:
    """Rewrite the request's query to its canonical form, so what is sent is exactly what is
    signed; return its (key, value) pairs."""
    query = canonical_query(query_pairs(request.url.query))
    request.url = request.url.copy_with(query=query.encode() or None)
    return query_pairs(query.encode())


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(``name:value\\n`` lines sorted by lower-case name, ``;``-joined signed header names)."""
    items = sorted((name.lower(), " ".join(value.split())) for name, value in headers.items())
    lines = "".join(f"{name}:{value}\n" for name, value in items)
    return lines, ";".join(name for name, _ in items)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
