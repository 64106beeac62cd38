"""SDK-HMAC-SHA256 reproduces every vector the official Huawei SDK signer produced."""

import datetime as dt
import json
import os

import httpx
import pytest

from exporter.auth.canonical import query_pairs
from exporter.auth.sdk_hmac import HuaweiKey, IamTokenAuth, SdkHmacAuth, authorization

from .helpers import TEST_DATA

VECTORS = json.loads((TEST_DATA / "signing-vectors.json").read_text())["sdk_hmac_sha256"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector(vector: dict) -> None:
    got = authorization(
        vector["method"],
        vector["path"],
        [tuple(pair) for pair in vector["query"]],
        vector["headers"],
        vector["access_key"],
        vector["secret_key"],
    )
    assert got == vector["expected_authorization"]


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if "expected_request_target" in v], ids=lambda v: v["id"]
)
def test_wire_target_is_the_canonical_query_and_signs_the_same(vector: dict) -> None:
    key = HuaweiKey(vector["access_key"], vector["secret_key"], vector.get("security_token"))
    auth = SdkHmacAuth(
        key, vector["project_id"], clock=lambda: dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    )
    params = {k: ("true" if v is True else v) for k, v in vector["query"]}
    request = httpx.Request(
        "GET", f"https://{vector['headers']['Host']}{vector['path']}", params=params
    )
    signed = next(auth.auth_flow(request))
    assert signed.url.raw_path.decode() == vector["expected_request_target"]
    names = signed.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: signed.headers[name] for name in names}
    assert signed.headers["Authorization"] == authorization(
        "GET",
        signed.url.path,
        query_pairs(signed.url.query),
        headers,
        key.access_key,
        key.secret_key,
    )
    if key.security_token:
        assert signed.headers["X-Security-Token"] == key.security_token
        assert "x-security-token" in names


def test_iam_token_from_a_file_is_re_read_when_it_changes(tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text("first-token\n")
    auth = IamTokenAuth(token_file=str(path))
    request = next(auth.auth_flow(httpx.Request("GET", "https://h/")))
    assert request.headers["X-Auth-Token"] == "first-token"
    path.write_text("second-token\n")
    os.utime(path, (1, 1))
    request = next(auth.auth_flow(httpx.Request("GET", "https://h/")))
    assert request.headers["X-Auth-Token"] == "second-token"
