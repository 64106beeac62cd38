"""The ModelArts API as its client sees it: requests signed with AK/SK (SDK-HMAC) or carrying
an IAM token, and Huawei Cloud's error shape."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from exporter.auth.sdk_hmac import HuaweiKey, IamTokenAuth, SdkHmacAuth
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget
from exporter.errors import PollError
from exporter.http.client import (
    ApiClient,
    default_error,
    first_text,
    json_object,
    retry_after_seconds,
    vendor_error,
)
from exporter.http.scrub import NO_SECRETS, Scrubber, model_secrets
from exporter.polling.health import ApiStats

THROTTLE_CODES = ("APIG.0308",)
AUTH_CODES = ("APIG.0301", "APIG.0303", "APIG.1002", "APIG.0307")


def open_client(target: ModelArtsLiteTarget, stats: ApiStats) -> ApiClient:
    """A client of ``target``'s project API, authenticated as the target says and its requests
    counted in ``stats``; its ``scrub`` masks the target's secrets in any text the API sends."""
    found = target.auth()
    assert found is not None  # the config refuses a target without credentials
    secret = found[1]
    secrets = model_secrets(target)
    if isinstance(secret, HuaweiKey):  # keys from the environment, too
        auth: httpx.Auth = SdkHmacAuth(secret, target.project())
        secrets += [secret.access_key, secret.secret_key, secret.security_token or ""]
    elif isinstance(secret, Path):
        auth = IamTokenAuth(token_file=str(secret))
    else:
        auth = IamTokenAuth(token=secret)
    return ApiClient(
        target.base_url(),
        stats,
        max_response_bytes=target.max_response_bytes,
        auth=auth,
        headers={"X-Project-Id": target.project()},
        classify_error=classify_error,
        requests_per_second=target.requests_per_second,
        tls=target.tls_settings(),
        scrub=Scrubber(secrets),
    )


def classify_error(
    operation: str, response: httpx.Response, body: bytes, scrub: Scrubber = NO_SECRETS
) -> PollError:
    """Huawei's shape: ``error_code``/``error_msg`` (or ``errorCode``/``errorMsg``,
    ``code``/``message``); the request id comes in ``X-Request-Id``."""
    payload = json_object(body)
    if payload is None:
        return default_error(operation, response, body, scrub)
    code = first_text(payload, "error_code", "errorCode", "code")
    return vendor_error(
        operation,
        response,
        code,
        first_text(payload, "error_msg", "errorMsg", "message"),
        response.headers.get("X-Request-Id", ""),
        scrub,
        throttled=response.status_code == 429 or code in THROTTLE_CODES,
        auth=code in AUTH_CODES,
        retry_after=retry_after_seconds(response.headers.get("Retry-After"), time.time()),
    )
