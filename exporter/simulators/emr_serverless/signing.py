"""The gateway's check of an ACS3-HMAC-SHA256 request, and the temporary keys STS hands out
(AssumeRoleWithOIDC) that it accepts.

It reads the query as the gateway does, whatever form it came in: ``+`` or ``%20`` for a space,
parameters in any order (the official SDK sends ``urlencode``'s form, ``name=a+b``, and signs
the canonical one, ``name=a%20b``), and checks the signature over its canonical form.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import threading
import uuid
from collections.abc import Callable
from random import Random
from typing import Any

from exporter.auth.acs3 import authorization
from exporter.simulators.base import request_query
from exporter.simulators.emr_serverless.common import ApiError, request_id

MAX_CLOCK_SKEW = 900.0
REQUIRED_SIGNED = {
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
}
_AUTHORIZATION = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$"
)


class SignatureCheck:
    """Checks requests signed with the long-term key or a temporary one it issued; thread-safe."""

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        now: Callable[[], float],
        rng: Random,
    ) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.now = now
        self._rng = rng
        self._lock = threading.Lock()
        self._nonces: set[str] = set()
        self._temporary: dict[str, tuple[str, str, float]] = {}  # id -> (secret, token, expiry)

    def verify(self, method: str, target: str, headers: dict[str, str]) -> None:
        """Raise ApiError unless the request (its target as sent, its headers by lower-case
        name) is signed as ACS3 wants: the signature, a fresh nonce, a recent date, the token."""
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if not match:
            raise ApiError(400, "IncompleteSignature", "The request signature does not conform.")
        key_id, signed_list, signature = match.groups()
        signed = signed_list.split(";")
        if not set(signed) >= REQUIRED_SIGNED or any(name not in headers for name in signed):
            raise ApiError(400, "IncompleteSignature", "Required headers are not signed.")
        secret, token = self._secret_for(key_id)
        path, pairs = target.partition("?")[0], request_query(target)
        expected = authorization(
            method, path, pairs, {name: headers[name] for name in signed}, key_id, secret
        )
        if not hmac.compare_digest(expected.rsplit("=", 1)[1], signature):
            raise ApiError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        self._check_date(headers["x-acs-date"])
        nonce = headers["x-acs-signature-nonce"]
        with self._lock:
            if nonce in self._nonces:
                raise ApiError(400, "SignatureNonceUsed", "The nonce has been used.")
            self._nonces.add(nonce)
        if token is not None and headers.get("x-acs-security-token") != token:
            raise ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey", "Token mismatch.")

    def _check_date(self, text: str) -> None:
        try:
            sent = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise ApiError(400, "InvalidTimeStamp.Format", "x-acs-date is malformed.") from None
        if abs(sent.replace(tzinfo=dt.UTC).timestamp() - self.now()) > MAX_CLOCK_SKEW:
            raise ApiError(400, "InvalidTimeStamp.Expired", "x-acs-date is out of range.")

    def _secret_for(self, key_id: str) -> tuple[str, str | None]:
        if key_id == self.access_key_id:
            return self.access_key_secret, None
        with self._lock:
            temporary = self._temporary.get(key_id)
        if temporary is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        secret, token, expiry = temporary
        if self.now() > expiry:
            raise ApiError(
                400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
            )
        return secret, token

    def issue_temporary(self, lifetime: float) -> dict[str, Any]:
        """A new temporary key, valid for ``lifetime`` seconds: STS's ``Credentials``."""
        key_id = f"STS.{self._rng.getrandbits(64):016x}"
        secret, token = uuid.uuid4().hex, f"CAIS{uuid.uuid4().hex}"
        expiry = self.now() + lifetime
        with self._lock:
            self._temporary[key_id] = (secret, token, expiry)
        expiration = dt.datetime.fromtimestamp(expiry, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "AccessKeyId": key_id,
            "AccessKeySecret": secret,
            "SecurityToken": token,
            "Expiration": expiration,
        }


def assume_role_with_oidc(
    check: SignatureCheck, oidc_token: str | None, lifetime: float, form: dict[str, str]
) -> dict[str, Any]:
    """STS AssumeRoleWithOIDC: temporary keys for a request carrying ``oidc_token``."""
    if oidc_token is None or form.get("OIDCToken") != oidc_token:
        raise ApiError(400, "InvalidParameter.OIDCToken", "The OIDC token is invalid.")
    if not form.get("RoleArn") or not form.get("OIDCProviderArn"):
        raise ApiError(400, "MissingParameter", "RoleArn and OIDCProviderArn are required.")
    return {"RequestId": request_id(), "Credentials": check.issue_temporary(lifetime)}
