"""The gateway's check of a request: an SDK-HMAC-SHA256 signature over the method, the path,
the query (read as the gateway reads it: ``+`` for a space, in any order, canonicalized before
the check), the headers ``SignedHeaders`` lists and the SHA-256 of the body; ``X-Sdk-Date``
within 15 minutes; ``X-Security-Token`` for temporary keys; or an IAM token in
``X-Auth-Token`` instead."""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter.auth.canonical import sha256_hex
from exporter.auth.sdk_hmac import authorization
from exporter.simulators.base import request_query
from exporter.simulators.modelarts_lite.common import ApiError

MAX_CLOCK_SKEW = 900.0
REQUIRED_SIGNED = {"host", "x-sdk-date", "x-project-id"}
_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$"
)


def _refused(why: str = "Incorrect IAM authentication information") -> ApiError:
    return ApiError(401, "APIG.0301", why)


@dataclass
class SignatureCheck:
    """The keys the gateway accepts; ``clock`` is the API's."""

    access_key: str
    secret_key: str = field(repr=False)
    clock: Callable[[], float]
    security_token: str | None = field(default=None, repr=False)
    iam_token: str | None = field(default=None, repr=False)

    def verify(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """Raise ApiError unless the request (its target as sent, its headers by lower-case
        name, its body) carries a valid signature or IAM token."""
        if "x-auth-token" in headers:
            if self.iam_token is None or headers["x-auth-token"] != self.iam_token:
                raise ApiError(401, "APIG.1002", "Incorrect token or token resolution failed")
            return
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if not match:
            raise _refused()
        access, signed_list, signature = match.groups()
        signed = signed_list.split(";")
        if not set(signed) >= REQUIRED_SIGNED or any(name not in headers for name in signed):
            raise _refused()
        if access != self.access_key:
            raise _refused("Incorrect IAM authentication information: ak")
        expected = authorization(
            method,
            target.partition("?")[0],
            request_query(target),  # signed in canonical form, whatever form it came in
            {name: headers[name] for name in signed},
            access,
            self.secret_key,
            sha256_hex(body),
        )
        if not hmac.compare_digest(expected.rsplit("=", 1)[1], signature):
            raise _refused("verify aksk signature fail")
        self._check_date(headers["x-sdk-date"])
        if self.security_token is not None and headers.get("x-security-token") != (
            self.security_token
        ):
            raise _refused("invalid security token")

    def _check_date(self, text: str) -> None:
        try:
            sent = dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise _refused("X-Sdk-Date is malformed") from None
        if abs(sent.replace(tzinfo=dt.UTC).timestamp() - self.clock()) > MAX_CLOCK_SKEW:
            raise _refused("X-Sdk-Date is out of range")
