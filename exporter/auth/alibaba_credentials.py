"""Alibaba Cloud credentials: static keys, the SDK's environment variables, or RRSA (OIDC).

RRSA on Kubernetes (ACK): the pod's OIDC token is exchanged through STS AssumeRoleWithOIDC for
temporary keys, refreshed before they expire; the token file is re-read each time (the kubelet
rotates it).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from exporter.config.files import FileProblem, read_secret_file
from exporter.errors import PollError
from exporter.http.body import read_body
from exporter.http.client import USER_AGENT
from exporter.http.scrub import shorten
from exporter.http.tls import TlsSettings
from exporter.http.transport import TRANSPORTS, deadline_scope

STS_VERSION = "2015-04-01"
DEFAULT_STS_ENDPOINT = "https://sts.aliyuncs.com"
REFRESH_MARGIN_SECONDS = 300.0
SESSION_DURATION_SECONDS = 3600
STS_TIMEOUT_SECONDS = 10.0  # and never past the deadline of the poll that needs the keys
MAX_STS_ANSWER = 1 << 20  # bytes, raw and decoded


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


class CredentialProvider(Protocol):
    def get(self) -> AccessKey: ...


@dataclass(frozen=True)
class StaticCredentials:
    key: AccessKey
    source: str

    def get(self) -> AccessKey:
        return self.key


class OidcRoleCredentials:
    """Temporary keys from STS AssumeRoleWithOIDC, refreshed ``REFRESH_MARGIN_SECONDS`` early."""

    source = "rrsa (AssumeRoleWithOIDC)"

    def __init__(
        self,
        role_arn: str,
        provider_arn: str,
        token_file: str,
        sts_endpoint: str = DEFAULT_STS_ENDPOINT,
        session_name: str = "jobfleet-exporter",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.role_arn = role_arn
        self.provider_arn = provider_arn
        self.token_file = token_file
        self.sts_endpoint = sts_endpoint.rstrip("/")
        self.session_name = session_name
        self.clock = clock
        self._lock = threading.Lock()
        self._key: AccessKey | None = None
        self._expires = 0.0
        self._client = httpx.Client(
            transport=TRANSPORTS.handle(TlsSettings()),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )

    def get(self) -> AccessKey:
        with self._lock:
            if self._key is None or self._expires - self.clock() < REFRESH_MARGIN_SECONDS:
                self._key, self._expires = self._assume_role()
            return self._key

    def _assume_role(self) -> tuple[AccessKey, float]:
        try:
            token = read_secret_file(self.token_file)
        except FileProblem as err:
            raise PollError("auth", f"OIDC token file: {err}") from None
        deadline = time.monotonic() + STS_TIMEOUT_SECONDS
        try:
            with (
                deadline_scope(deadline),
                self._client.stream(
                    "POST",
                    f"{self.sts_endpoint}/",
                    params={
                        "Action": "AssumeRoleWithOIDC",
                        "Format": "JSON",
                        "Version": STS_VERSION,
                        "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    data={
                        "RoleArn": self.role_arn,
                        "OIDCProviderArn": self.provider_arn,
                        "OIDCToken": token,
                        "RoleSessionName": self.session_name,
                        "DurationSeconds": str(SESSION_DURATION_SECONDS),
                    },
                    timeout=STS_TIMEOUT_SECONDS,
                ) as response,
            ):
                body = read_body(response, "AssumeRoleWithOIDC", MAX_STS_ANSWER, deadline)
        except httpx.HTTPError as err:
            raise PollError("auth", f"AssumeRoleWithOIDC: {type(err).__name__}") from None
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        if response.status_code != 200:
            code = payload.get("Code", "") if isinstance(payload, dict) else ""
            code = shorten(code, 64) if isinstance(code, str) else ""
            raise PollError("auth", f"AssumeRoleWithOIDC: HTTP {response.status_code} {code}")
        try:
            creds = payload["Credentials"]
            key = AccessKey(creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"])
            expires = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        except (KeyError, TypeError, ValueError):
            raise PollError("auth", "AssumeRoleWithOIDC: unexpected answer") from None
        return key, expires.replace(tzinfo=dt.UTC).timestamp()


def resolve(
    access_key_id: str | None,
    access_key_secret: str | None,
    security_token: str | None,
    sts_endpoint: str | None,
    environ: Mapping[str, str],
) -> CredentialProvider | None:
    """Config keys first, then the SDK's environment variables, then RRSA; None if nothing."""
    if access_key_id and access_key_secret:
        key = AccessKey(access_key_id, access_key_secret, security_token or None)
        return StaticCredentials(key, "config, STS token" if security_token else "config")
    env_id = environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
    env_secret = environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if env_id and env_secret:
        token = environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None
        source = "environment, STS token" if token else "environment"
        return StaticCredentials(AccessKey(env_id, env_secret, token), source)
    rrsa = [
        environ.get(name)
        for name in (
            "ALIBABA_CLOUD_ROLE_ARN",
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
        )
    ]
    if all(rrsa):
        role_arn, provider_arn, token_file = rrsa
        return OidcRoleCredentials(
            role_arn,
            provider_arn,
            token_file,
            sts_endpoint=sts_endpoint or DEFAULT_STS_ENDPOINT,
            session_name=environ.get("ALIBABA_CLOUD_ROLE_SESSION_NAME") or "jobfleet-exporter",
        )
    return None
