"""The EMR Serverless Spark API (version 2023-08-08) as its client sees it: ACS3-signed
requests, Alibaba's error shape, and what every list answer holds."""

from __future__ import annotations

import json

import httpx

from exporter.auth.acs3 import Acs3Auth
from exporter.auth.alibaba_credentials import StaticCredentials
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.fields import number
from exporter.errors import PollError
from exporter.http.client import ApiClient, default_error, first_text, json_object, vendor_error
from exporter.http.scrub import NO_SECRETS, Scrubber, model_secrets
from exporter.polling.health import ApiStats

API_VERSION = "2023-08-08"
PAGE_SIZE = 100  # items a list request asks for
AUTH_CODES = ("SignatureDoesNotMatch", "IncompleteSignature", "SignatureNonceUsed")
AUTH_CODE_PREFIXES = ("InvalidAccessKeyId", "InvalidSecurityToken", "Forbidden")


def open_client(target: EmrServerlessTarget, stats: ApiStats) -> ApiClient:
    """A client of ``target``'s workspace API, its requests signed with the target's keys and
    counted in ``stats``; its ``scrub`` masks those keys in any text the API sends back."""
    provider = target.credential_provider()
    assert provider is not None  # the config refuses a target without credentials
    secrets = model_secrets(target)
    if isinstance(provider, StaticCredentials):  # keys from the environment, too
        key = provider.key
        secrets += [key.access_key_id, key.access_key_secret, key.security_token or ""]
    scrub = Scrubber(secrets)
    return ApiClient(
        target.base_url(),
        stats,
        max_response_bytes=target.max_response_bytes,
        auth=Acs3Auth(provider, API_VERSION),
        classify_error=classify_error,
        requests_per_second=target.requests_per_second,
        tls=target.tls_settings(),
        scrub=scrub,
    )


def classify_error(
    operation: str, response: httpx.Response, body: bytes, scrub: Scrubber = NO_SECRETS
) -> PollError:
    """Alibaba's error shape: ``{Code|code, Message|message, RequestId|requestId}``;
    ``x-acs-retry-after`` (milliseconds) says how long to wait after throttling."""
    payload = json_object(body)
    if payload is None:
        return default_error(operation, response, body, scrub)
    code = first_text(payload, "Code", "code")
    retry_ms = number(response.headers.get("x-acs-retry-after"))
    return vendor_error(
        operation,
        response,
        code,
        first_text(payload, "Message", "message"),
        first_text(payload, "RequestId", "requestId"),
        scrub,
        throttled=response.status_code == 429 or code.startswith("Throttling"),
        auth=code in AUTH_CODES or code.startswith(AUTH_CODE_PREFIXES),
        retry_after=retry_ms / 1000.0 if retry_ms and retry_ms > 0 else None,
    )


def time_range(start_ms: int, end_ms: int) -> str:
    """A time range parameter (ListRayJob's ``submitTime``, ListJobRuns' ``startTime``) as the
    SDK sends it: one query parameter of compact JSON, ``{"endTime":…,"startTime":…}`` (epoch
    milliseconds, both included)."""
    return json.dumps({"endTime": end_ms, "startTime": start_ms}, separators=(",", ":"))


def workspace_path(target: EmrServerlessTarget, collection: str) -> str:
    """The path of a collection (``rayJob``, ``rayCluster``) of ``target``'s workspace."""
    return f"/api/v1/workspaces/{target.workspace_id}/{collection}"


def stale_token(error: PollError, token: str | None) -> bool:
    """Whether ``error`` refuses the page token a request carried: the API answers a
    ``nextToken`` it no longer knows (expired, or issued for other filters) as an invalid
    parameter, HTTP 400. A 400 to a page request that carries a token, whose first page was
    accepted with the same filters, is that refusal; the walk then begins again."""
    return token is not None and error.status == 400
