"""One credential source per target, and --check-config saying exactly what is sent.

What ``describe`` prints is compared with what a real simulator receives: the scheme of the
Authorization header (or its absence) and the names of the extra headers. Token files named
by the configuration are read as bounded regular files at run time too.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from exporter.app import Exporter
from exporter.cli import describe
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.ray import RaySimulator

from .helpers import value

TOKEN, PASSWORD, HEADER_SECRET = "tok-7f3a", "pw-51c9", "hdr-e08d"
STANDARD = {"host", "accept", "accept-encoding", "connection", "user-agent"}


def _with_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"alice:{PASSWORD}@{parts.netloc}").geturl()


def _settings(case: str, url: str, token_file: Path) -> dict:
    return {
        "token": {"credentials": {"token": TOKEN}},
        "token_file": {"credentials": {"token_file": str(token_file)}},
        "userinfo": {"url": _with_userinfo(url), "headers": {"X-Team": "platform"}},
        "header": {"headers": {"Authorization": f"Custom {HEADER_SECRET}", "X-Team": "a"}},
        "none": {"headers": {"X-Team": "platform", "X-Env": "prod"}},
    }[case]


def _expected_from(auth_text: str) -> tuple[str | None, set[str]]:
    """(Authorization sent: its scheme, "as configured" or None; extra header names) as
    ``auth_text`` states them."""
    if auth_text.startswith("basic auth"):
        scheme: str | None = "Basic"
    elif auth_text.startswith("Authorization: Bearer"):
        scheme = "Bearer"
    elif auth_text.startswith("Authorization header (from headers)"):
        scheme = "as configured"
    else:
        assert auth_text.startswith("none"), auth_text
        scheme = None
    names = re.search(r"headers: (.+)$", auth_text)
    return scheme, {n.lower() for n in names.group(1).split(", ")} if names else set()


@pytest.mark.parametrize("case", ["token", "token_file", "userinfo", "header", "none"])
def test_check_config_says_what_the_backend_receives(case: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    with RaySimulator() as sim:
        sim.add_job("a", status="RUNNING")
        target = {
            **sim.target_config("t", resources=["jobs"]),
            **_settings(case, sim.url, token_file),
        }
        config = parse_config({"targets": [target]})
        text = describe(config)
        for secret in (TOKEN, PASSWORD, HEADER_SECRET, "alice"):
            assert secret not in text
        auth = text.split(" auth=", 1)[1]
        scheme, extra = _expected_from(auth)
        exporter = Exporter(config)
        try:
            assert exporter.poll_all_once()
        finally:
            exporter.close()
        (_method, _path, sent), *_ = sim.requests
    sent = {name.lower(): header for name, header in sent.items()}
    authorization = sent.pop("authorization", None)
    if scheme == "as configured":
        assert authorization == f"Custom {HEADER_SECRET}"
    else:
        assert (authorization.split(" ", 1)[0] if authorization else None) == scheme
    assert set(sent) - STANDARD == extra
    if case in ("token", "token_file"):
        assert authorization == f"Bearer {TOKEN}"
        source = f"file {token_file}" if case == "token_file" else "credentials.token"
        assert auth.startswith(f"Authorization: Bearer token (from {source})")
    if case == "userinfo":
        assert base64.b64decode(authorization.split()[1]).decode() == f"alice:{PASSWORD}"


@pytest.mark.parametrize(
    ("settings", "sources"),
    [
        ({"credentials": {"token": TOKEN}}, "user info in url, credentials.token"),
        (
            {"headers": {"authorization": f"Basic {HEADER_SECRET}"}},
            "user info in url, headers.authorization",
        ),
    ],
)
def test_user_info_and_another_credential_is_refused(settings: dict, sources: str) -> None:
    target = {"name": "t", "backend": "ray", "url": f"http://alice:{PASSWORD}@h:1", **settings}
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [target]})
    (problem,) = refused.value.problems
    assert problem.startswith(f"targets[0]: more than one credential source ({sources}")
    assert PASSWORD not in problem and HEADER_SECRET not in problem and TOKEN not in problem


def test_token_and_authorization_header_is_refused() -> None:
    target = {
        "name": "t",
        "backend": "ray",
        "url": "http://h:1",
        "credentials": {"token": TOKEN},
        "headers": {"Authorization": f"Bearer {HEADER_SECRET}"},
    }
    with pytest.raises(ConfigError, match=r"credentials.token, headers.Authorization\): keep one"):
        parse_config({"targets": [target]})


@pytest.mark.slow
def test_iam_token_file_is_reread_bounded_and_never_blocks(tmp_path: Path) -> None:
    """auth_token_file is re-read when it changes: a file turned into a FIFO or a link to
    /dev/zero fails the poll as ``auth`` at once; a good token again recovers it."""
    token_file = tmp_path / "iam-token"
    token_file.write_text("iam-token-1\n")
    with ModelArtsLiteSimulator(iam_token="iam-token-1") as sim:
        sim.add_job("j", status="PROCESSING")
        target = sim.target_config("m", credentials={"auth_token_file": str(token_file)})
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            assert exporter.poll_all_once()
            for replace in (
                lambda: os.mkfifo(token_file),
                lambda: token_file.symlink_to("/dev/zero"),
            ):
                token_file.unlink()
                replace()
                assert not exporter.poll_all_once()
                body = exporter.exposition.body()
                assert value(body, "jobfleet_target_up", target="m") == 0
                assert value(body, "jobfleet_poll_errors_total", target="m", reason="auth") >= 1
            token_file.unlink()
            token_file.write_text("iam-token-1\n")
            assert exporter.poll_all_once()
        finally:
            exporter.close()


@pytest.mark.parametrize(
    ("variable", "target"),
    [
        (
            "HUAWEICLOUD_SDK_SK",
            {"backend": "modelarts_lite", "region": "cn-north-4", "project_id": "p1"},
        ),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            {"backend": "emr_serverless", "region": "cn-hangzhou", "workspace_id": "w-1"},
        ),
    ],
)
def test_keys_from_the_environment_must_be_sendable_too(
    variable: str, target: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"):
        monkeypatch.setenv(name, "HPUAkey0001")
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.setenv(name, "LTAIkey0001")
    monkeypatch.setenv(variable, f"{TOKEN}\u00e9")
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{"name": "t", **target}]})
    (problem,) = refused.value.problems
    assert problem.startswith(f"targets[0]: credentials: environment variable {variable} must be")
    assert TOKEN not in problem
