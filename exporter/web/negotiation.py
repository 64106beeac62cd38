"""Negotiation for /metrics: the format from ``Accept`` and the content coding from
``Accept-Encoding`` with q-values (RFC 9110 12.5.3)."""

from __future__ import annotations

import re

from exporter.exposition.protobuf import PROTOBUF
from exporter.exposition.text import OPENMETRICS, TEXT

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


TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
TEXT_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"
OPENMETRICS_1_0_0 = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROTOBUF_MEDIA = "application/vnd.google.protobuf"
PROTOBUF_MESSAGE = "io.prometheus.client.MetricFamily"
PROTOBUF_DELIMITED = f"{PROTOBUF_MEDIA}; proto={PROTOBUF_MESSAGE}; encoding=delimited"
ESCAPING_SCHEMES = ("allow-utf-8", "underscores", "dots", "values")


def _version(text: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return None


def choose_format(accept: str | None, protobuf: bool = True) -> tuple[str, str]:
    """(``text``, ``openmetrics`` or ``protobuf``, Content-Type) for an ``Accept`` header, by
    client_python's rules (prometheus_client.exposition.choose_encoder) and, for protobuf,
    client_golang's (expfmt.Negotiate), with q-values honoured first.

    Media ranges are tried from the highest q down (in their order at equal q; q=0 never):
    ``application/vnd.google.protobuf`` with ``proto=io.prometheus.client.MetricFamily`` and
    ``encoding=delimited`` gets the protobuf format (another message or encoding is passed
    over; Prometheus asks for it first when native histograms are enabled);
    ``application/openmetrics-text`` with no version or a version from 1.0.0 up gets
    OpenMetrics 1.0.0, a lower version is passed over; ``text/plain`` gets the text format;
    anything else is passed over (``*/*`` too), and the text format 0.0.4 is the default
    (without ``protobuf``, protobuf is passed over too: the client's next choice). As
    client_python does, an explicit version is answered with the ``escaping`` scheme asked for
    (underscores when none or an unknown one): every name the exporter serves is a legacy
    name, the same under every scheme.
    """
    ranges: list[tuple[float, str, dict[str, str]]] = []
    for element in (accept or "").split(","):
        media, *params = (part.strip() for part in element.split(";"))
        values = dict(
            (key.strip().lower(), value.strip().strip('"'))
            for key, _, value in (param.partition("=") for param in params)
        )
        try:
            q = float(values.pop("q", "1"))
        except ValueError:
            continue
        if q > 0:
            ranges.append((q, media.lower(), values))
    ranges.sort(key=lambda entry: -entry[0])  # stable: equal q keep their order
    for _, media, params in ranges:
        version = params.get("version")
        escaping = params.get("escaping")
        escaping = escaping if escaping in ESCAPING_SCHEMES else "underscores"
        if media == PROTOBUF_MEDIA:
            if (
                protobuf
                and params.get("proto") == PROTOBUF_MESSAGE
                and (params.get("encoding") == "delimited")
            ):
                return PROTOBUF, PROTOBUF_DELIMITED
        elif media == "application/openmetrics-text":
            if version is None:
                return OPENMETRICS, OPENMETRICS_1_0_0
            if (_version(version) or (0,)) >= (1, 0, 0):
                return OPENMETRICS, f"{OPENMETRICS_1_0_0}; escaping={escaping}"
        elif media == "text/plain":
            if version is not None and (_version(version) or (0,)) >= (1, 0, 0):
                return TEXT, f"{TEXT_1_0_0}; escaping={escaping}"
            return TEXT, TEXT_0_0_4
    return TEXT, TEXT_0_0_4
