"""Backend text made safe to show: secrets masked, length bounded, one line.

A backend may echo the request it received (its headers, its URL) in an error answer; that text
must not carry the target's credentials into a log, a metric or the landing page.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values are not masked: they would garble every message
MAX_TEXT = 500
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-auth-token",
        "x-security-token",
        "x-acs-security-token",
        "x-acs-accesskey-id",
        "cookie",
    }
)
_AUTH_ITEMS = re.compile(r"[\s,]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (marked with an ellipsis)."""
    text = " ".join(_CONTROL.sub(" ", text[: limit + 1]).split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


class Scrubber:
    """Masks a fixed set of secret values in any text it is given."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(found, key=len, reverse=True)  # longest first: no partial leaks
        self._pattern = re.compile("|".join(map(re.escape, self._secrets))) if found else None
        self._longest = len(self._secrets[0]) if found else 0

    def extended(self, secrets: Iterable[str]) -> Scrubber:
        return Scrubber([*self._secrets, *secrets])

    def __call__(self, text: str, limit: int = MAX_TEXT) -> str:
        """``text`` with every secret masked, on one line, cut near ``limit`` characters.

        Secrets are masked before the cut, and a secret that starts before the cut is masked
        whole, so no part of one is ever left behind.
        """
        text = _CONTROL.sub(" ", text[: limit + self._longest])  # one for one: offsets hold
        parts, pos = [], 0
        if self._pattern is not None:
            for match in self._pattern.finditer(text):
                if match.start() >= limit:
                    break
                parts += [text[pos : match.start()], MASK]
                pos = match.end()
        end = max(pos, limit)
        parts.append(text[pos:end])
        result = " ".join("".join(parts).split())
        return result + "…" if len(text) > end else result

    def body(self, body: bytes, limit: int = MAX_TEXT) -> str:
        """The start of a response body as text, scrubbed as by calling the scrubber."""
        window = 4 * (limit + self._longest)  # at most 4 bytes per character
        return self(body[:window].decode("utf-8", "replace"), limit)


def header_secrets(headers: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The credential values in request ``headers`` (and in headers named in ``extra``),
    whole and in parts: a signature header's key id and signature, a bearer's token."""
    names = CREDENTIAL_HEADERS | {name.lower() for name in extra}
    values = []
    for name, value in headers.items():
        if name.lower() in names:
            values += [value, *_credential_parts(value)]
    return values


def _credential_parts(value: str) -> list[str]:
    """The secret parts of an Authorization-like value: ``Bearer X`` -> X,
    ``ACS3-HMAC-SHA256 Credential=X,SignedHeaders=h,Signature=Y`` -> X, Y."""
    _, _, rest = value.strip().partition(" ")
    parts = [rest.strip()] if rest.strip() else []
    for item in _AUTH_ITEMS.split(rest):
        key, sep, secret = item.partition("=")
        if sep and secret and key.lower() != "signedheaders":
            parts.append(secret)
    return parts


def url_secrets(url: str | None) -> list[str]:
    """The user info of a URL (user, password, and both as sent), if it has any."""
    if not url:
        return []
    parts = urlsplit(url)
    values = []
    for raw in (parts.username, parts.password):
        if raw:
            values += [raw, unquote(raw)]
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        basic = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        values += [userinfo, base64.b64encode(basic.encode()).decode()]
    return values


def model_secrets(model: BaseModel) -> list[str]:
    """Every ``SecretStr`` value and URL user info found in a config model, at any depth."""
    values: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            values.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "@" in value and "://" in value:
            values.extend(url_secrets(value))

    walk(model)
    return values


NO_SECRETS = Scrubber()  # text is still bounded and put on one line
