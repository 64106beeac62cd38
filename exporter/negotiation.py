"""Content-coding negotiation for /metrics: ``Accept-Encoding`` with q-values (RFC 9110 12.5.3)."""

from __future__ import annotations

import re

GZIP = "gzip"
IDENTITY = "identity"
_WEIGHT = re.compile(r"q=(0(\.\d{0,3})?|1(\.0{0,3})?)", re.IGNORECASE)
# identity when only implied: acceptable, but after any coding the client listed
_IMPLIED = 0.0001


def _weights(header: str) -> dict[str, float]:
    """{coding: q} of every well-formed element; ``x-gzip`` counts as ``gzip``."""
    weights: dict[str, float] = {}
    for element in header.split(","):
        coding, *params = (part.strip() for part in element.split(";"))
        coding = coding.lower()
        if not coding:
            continue
        q = 1.0
        for param in params:
            match = _WEIGHT.fullmatch(param)
            if match is None:
                break
            q = float(match.group(1))
        else:
            weights["gzip" if coding == "x-gzip" else coding] = q
    return weights


def choose_encoding(accept_encoding: str | None) -> str | None:
    """``gzip`` or ``identity`` for the response, or None when the client accepts neither."""
    if accept_encoding is None:
        return IDENTITY  # no preference stated: the plain form
    weights = _weights(accept_encoding)
    star = weights.get("*")
    gzip = weights.get(GZIP, star or 0.0)
    identity = weights.get(IDENTITY, star if star is not None else _IMPLIED)
    if gzip > 0 and gzip >= identity:
        return GZIP
    return IDENTITY if identity > 0 else None
