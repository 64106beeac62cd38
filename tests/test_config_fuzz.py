"""Broken configurations, generated from one valid configuration by a seeded generator.

Each case breaks one thing: a wrong type at every field, an unknown key at every level, a
missing required field, odd unicode (non-ASCII, controls, line breaks) in names, URLs, header
names and values, tokens and keys, deep nesting, alias bombs, and a special file (/dev/zero, a
FIFO, a directory, a missing, huge, empty or non-UTF-8 file, a symlink to /dev/zero) at every
``*_file`` setting and as the configuration file itself. Each must give exit 2 and exactly one
``config error: <field>: ...`` line, no traceback and no secret, for ``--check-config`` and for
start (in-process through ``main``, and a sample as real processes); a sample of them given to
a running exporter by SIGHUP is refused while the running configuration keeps polling.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml

from exporter import cli
from exporter.config.files import CONFIG_FILE_LIMIT, SECRET_FILE_LIMIT
from exporter.config.types import one_line
from exporter.simulators.ray import RaySimulator

from .helpers import ROOT, eventually, free_port, value, wait_ready

SEED = 13
SECRET = "Sekr1t"  # every injected secret value carries it: it must never be printed
CREDENTIAL_VARIABLES = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_PROJECT_ID",
)

# Placeholders, replaced when a case is written: the fixture directory, the Ray simulator's
# URL, and the configuration file's own path (YAML problems are reported against it).
FILES, RAY, CONFIG = "@FILES@", "@RAY@", "@CONFIG@"

SECRET_FILES = {
    ("targets", 0, "credentials", "token_file"): "ray-token",
    ("targets", 1, "credentials", "access_key_id_file"): "ak-id",
    ("targets", 1, "credentials", "access_key_secret_file"): "ak-secret",
    ("targets", 1, "credentials", "security_token_file"): "sts-token",
    ("targets", 2, "credentials", "access_key_file"): "hw-ak",
    ("targets", 2, "credentials", "secret_key_file"): "hw-sk",
    ("targets", 2, "credentials", "security_token_file"): "hw-sts",
    ("targets", 3, "credentials", "auth_token_file"): "iam-token",
}

BASE: dict[str, Any] = {
    "web": {"listen_address": "127.0.0.1:9760", "config_file": f"{FILES}/web.yml"},
    "state_file": f"{FILES}/state/state.json",
    "defaults": {
        "poll_interval": "1s",
        "timeout": "2s",
        "retention": "1h",
        "per_job_series": "active",
        "max_response_bytes": 1048576,
        "max_retry_after": "5m",
    },
    "targets": [
        {
            "name": "ray",
            "backend": "ray",
            "url": RAY,
            "resources": ["jobs"],
            "poll_interval": "1s",
            "credentials": {"token_file": f"{FILES}/ray-token"},
            "headers": {"X-Team": "platform"},
            "tls": {"insecure_skip_verify": False, "server_name": "ray.example"},
        },
        {
            "name": "emr",
            "backend": "emr_serverless",
            "region": "cn-hangzhou",
            "endpoint": "http://127.0.0.1:9",
            "workspace_id": "w-1",
            "network": "public",
            "credentials": {
                "access_key_id_file": f"{FILES}/ak-id",
                "access_key_secret_file": f"{FILES}/ak-secret",
                "security_token_file": f"{FILES}/sts-token",
            },
            "filters": {"name": "nightly"},
            "requests_per_second": 5,
            "full_list_interval": "1h",
            "max_pages": 10,
        },
        {
            "name": "ma",
            "backend": "modelarts_lite",
            "region": "cn-north-4",
            "endpoint": "http://127.0.0.1:9",
            "project_id": "p1",
            "credentials": {
                "access_key_file": f"{FILES}/hw-ak",
                "secret_key_file": f"{FILES}/hw-sk",
                "security_token_file": f"{FILES}/hw-sts",
            },
            "filters": {"visible": True, "type": "T"},
            "job_type_cap": 5,
        },
        {
            "name": "ma-iam",
            "backend": "modelarts_lite",
            "region": "cn-north-4",
            "endpoint": "http://127.0.0.1:9",
            "project_id": "p1",
            "credentials": {"auth_token_file": f"{FILES}/iam-token"},
        },
    ],
}

STR = [123, 1.5, True, ["x"], {"k": "v"}]
DURATION = ["ten seconds", "5 m", "1h-5m", -1, 0, ["1s"], {"k": 1}, True]
POSITIVE_INT = ["many", -1, 0, 1.5, ["1"], {"k": 1}]
POSITIVE_NUMBER = ["fast", -1, 0, ["1"], {"k": 1}]
CHOICE = ["sometimes", 1, ["x"], ""]
PATH = [1, ["x"], {"k": 1}, True]
BOOL = ["maybe", ["x"], 2, {"k": 1}]
SECTION = ["x", ["x"], 5, True]
LIST = ["x", 5, {"k": 1}]

FIELDS: dict[tuple, list] = {
    ("web",): SECTION,
    ("web", "listen_address"): STR,
    ("web", "config_file"): PATH,
    ("state_file",): PATH,
    ("defaults",): SECTION,
    ("defaults", "poll_interval"): DURATION,
    ("defaults", "timeout"): DURATION,
    ("defaults", "retention"): DURATION,
    ("defaults", "max_retry_after"): DURATION,
    ("defaults", "per_job_series"): CHOICE,
    ("defaults", "max_response_bytes"): POSITIVE_INT,
    ("targets",): LIST,
    **{("targets", i): SECTION for i in range(4)},
    **{("targets", i, "name"): STR for i in range(4)},
    ("targets", 0, "backend"): CHOICE,
    ("targets", 0, "url"): STR,
    ("targets", 0, "resources"): LIST,
    ("targets", 0, "poll_interval"): DURATION,
    ("targets", 0, "credentials"): SECTION,
    ("targets", 0, "headers"): SECTION,
    ("targets", 0, "headers", "X-Team"): STR,
    ("targets", 0, "tls"): SECTION,
    ("targets", 0, "tls", "server_name"): STR,
    ("targets", 0, "tls", "insecure_skip_verify"): BOOL,
    ("targets", 1, "region"): STR,
    ("targets", 1, "endpoint"): STR,
    ("targets", 1, "workspace_id"): STR,
    ("targets", 1, "network"): CHOICE,
    ("targets", 1, "credentials"): SECTION,
    ("targets", 1, "filters"): SECTION,
    ("targets", 1, "filters", "name"): STR,
    ("targets", 1, "requests_per_second"): POSITIVE_NUMBER,
    ("targets", 1, "full_list_interval"): DURATION,
    ("targets", 1, "max_pages"): POSITIVE_INT,
    ("targets", 2, "project_id"): STR,
    ("targets", 2, "region"): STR,
    ("targets", 2, "filters", "visible"): BOOL,
    ("targets", 2, "filters", "type"): STR,
    ("targets", 2, "job_type_cap"): POSITIVE_INT,
    **dict.fromkeys(SECRET_FILES, PATH),
}
REQUIRED = [
    ("targets",),
    ("targets", 0, "name"),
    ("targets", 0, "backend"),
    ("targets", 0, "url"),
    ("targets", 1, "workspace_id"),
    ("targets", 1, "region"),  # with endpoint gone too: neither is set
]
SECTIONS = [
    (),
    ("web",),
    ("defaults",),
    *[("targets", i) for i in range(4)],
    ("targets", 0, "credentials"),
    ("targets", 0, "tls"),
    ("targets", 1, "credentials"),
    ("targets", 1, "filters"),
    ("targets", 2, "filters"),
]
ODD = ["é", "\u00a0", "\u200b", "\u202e", "\x07", "\x1b", "\n", "\r", "\t", "😀", "\x7f", "\x85"]
SPECIAL_SECRETS = [
    "dev_zero",
    "fifo",
    "directory",
    "missing",
    "huge_secret",
    "empty",
    "not_utf8",
    "non_ascii",
    "inner_space",
    "zero_link",
]


@dataclass(frozen=True)
class Case:
    name: str
    text: str  # the configuration (placeholders unreplaced); unused when ``special`` is set
    expect: str  # the one problem line starts with "config error: " + this
    special: str = ""  # the configuration file is itself this special file
    reloadable: bool = True  # the web config is read at start only, not by a reload


def _text(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _where(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _with(path: tuple, new: Any) -> dict:
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return data


def _without(*paths: tuple) -> dict:
    data = copy.deepcopy(BASE)
    for path in paths:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return data


def _special(name: str) -> str:
    """Where a special file of the fixture directory is (/dev/zero is itself)."""
    return "/dev/zero" if name == "dev_zero" else f"{FILES}/{name}"


def _bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def generate() -> list[Case]:
    rng = random.Random(SEED)
    cases: list[Case] = []

    def add(name: str, data_or_text: Any, expect: str, **kwargs: Any) -> None:
        text = data_or_text if isinstance(data_or_text, str) else _text(data_or_text)
        cases.append(Case(name, text, expect, **kwargs))

    for path, wrong in FIELDS.items():
        for new in rng.sample(wrong, min(3, len(wrong))):
            add(f"type {_where(path)}={new!r}", _with(path, new), _where(path))
    for path in REQUIRED:
        data = _without(path, ("targets", 1, "endpoint")) if path[-1] == "region" else None
        where = _where(path) if path != ("targets", 1, "region") else "targets[1]: set region"
        add(f"missing {_where(path)}", data or _without(path), where)
    for section in SECTIONS:
        for key in ("pol_interval", rng.choice(["tokn", "x" + rng.choice(ODD) + "y", "é"])):
            where = _where((*section, key)) if section else key
            add(f"unknown key {key!r} in {_where(section)}", _with((*section, key), 1), where)

    ray_credentials = ("targets", 0, "credentials")
    header = ("targets", 0, "headers", "X-Team")
    for ch in rng.sample(ODD, 5):
        text = f"{ch}{SECRET}" if ch == "\t" else f"{SECRET}{ch}v"  # a tab inside is allowed
        add(f"odd header value {ch!r}", _with(header, text), _where(header))
    for text in (f" {SECRET}", f"{SECRET} "):
        add(f"header value {text!r}", _with(header, text), _where(header))
    for ch in rng.sample(ODD, 4):
        add(
            f"odd header name {ch!r}",
            _with(("targets", 0, "headers"), {f"X-{ch}T": "v"}),
            "targets[0].headers.X-",
        )
    for ch in rng.sample(ODD, 6):
        add(
            f"odd token {ch!r}",
            _with(ray_credentials, {"token": f"{SECRET}{ch}t"}),
            "targets[0].credentials.token",
        )
    inline = {
        1: ("access_key_id", {"access_key_secret": f"{SECRET}s"}),
        2: ("secret_key", {"access_key": f"{SECRET}a"}),
        3: ("auth_token", {}),
    }
    for index, (key, others) in inline.items():
        for ch in rng.sample(ODD, 3):
            credentials = {key: f"{SECRET}{ch}k", **others}
            add(
                f"odd {key} {ch!r}",
                _with(("targets", index, "credentials"), credentials),
                f"targets[{index}].credentials.{key}",
            )
    for index, field, good in (
        (0, "name", "ray"),
        (1, "region", "cn-hangzhou"),
        (1, "workspace_id", "w-1"),
        (2, "project_id", "p1"),
    ):
        for ch in rng.sample(ODD, 3):
            add(
                f"odd {field} {ch!r}",
                _with(("targets", index, field), good + ch),
                f"targets[{index}]" + ("" if field == "project_id" else f".{field}"),
            )
    add("non-ASCII header value", _with(header, f"{SECRET}é"), _where(header))
    add(
        "non-ASCII token",
        _with(ray_credentials, {"token": f"{SECRET}é"}),
        "targets[0].credentials.token",
    )
    for ch in rng.sample([c for c in ODD if c != "é"], 5):
        add(
            f"odd url {ch!r}",
            _with(("targets", 0, "url"), f"http://ray{ch}host:1"),
            "targets[0].url",
        )
    for ch in rng.sample(ODD, 3):
        add(
            f"odd listen address {ch!r}",
            _with(("web", "listen_address"), f"127.0.0.{ch}:9760"),
            "web.listen_address",
        )
    add(
        "url user info and token file",
        _with(("targets", 0, "url"), f"http://u:{SECRET}@h:1"),
        "targets[0]: more than one credential source",
    )
    add(
        "token and Authorization header",
        _with(("targets", 0, "headers"), {"authorization": f"Bearer {SECRET}"}),
        "targets[0]: more than one credential source",
    )
    add(
        "user info on a signed endpoint",
        _with(("targets", 1, "endpoint"), f"http://u:{SECRET}@h:1"),
        "targets[1].endpoint",
    )

    for path in SECRET_FILES:
        for special in SPECIAL_SECRETS:
            add(f"{special} at {_where(path)}", _with(path, _special(special)), _where(path))
    for special in ("dev_zero", "fifo", "directory", "zero_link"):
        add(f"{special} at state_file", _with(("state_file",), _special(special)), "state_file")
    for special in ("dev_zero", "fifo", "directory", "missing", "not_a_pem"):
        add(
            f"{special} at tls.ca_file",
            _with(("targets", 0, "tls", "ca_file"), _special(special)),
            "targets[0].tls",
        )
    for special in ("dev_zero", "fifo", "directory", "missing", "huge_config", "not_utf8"):
        add(
            f"{special} at web.config_file",
            _with(("web", "config_file"), _special(special)),
            "web config: cannot read",
            reloadable=False,
        )
    for special in ("web-deep.yml", "web-bomb.yml", "web-bad-hash.yml", "web-tls-fifo.yml"):
        expect = "tls_server_config.cert_file" if "fifo" in special else f"{FILES}/{special}"
        add(
            f"web config {special}",
            _with(("web", "config_file"), f"{FILES}/{special}"),
            expect,
            reloadable=False,
        )
    for special in ("dev_zero", "fifo", "directory", "missing", "huge_config", "not_utf8"):
        add(f"config file {special}", "", "config file: cannot read", special=special)

    base = _text(BASE)
    deep = ("targets", 0, "headers", "X-Team")
    nested: Any = "x"
    for _ in range(10):
        nested = [nested]
    add("nested 10 levels at a string", _with(deep, nested), _where(deep))
    nested = {"a": 1}
    for _ in range(40):
        nested = {"a": nested}
    add("nested 40 levels at an unknown key", _with(("deeply",), nested), "deeply")
    add("nested 100 levels (flow)", base + "deep: " + "[" * 100 + "]" * 100 + "\n", CONFIG)
    add("nested 5000 levels (flow)", base + "deep: " + "[" * 5000 + "]" * 5000 + "\n", CONFIG)
    block = "".join(" " * i + f"k{i}:\n" for i in range(1, 1000)) + " " * 1000 + "x\n"
    add("nested 1000 levels (block)", base + "deep:\n" + block, CONFIG)
    add("alias bomb under an unknown key", _bomb() + base, CONFIG)
    add(
        "alias bomb at a header value",
        _bomb() + base.replace("X-Team: platform", "X-Team: *l8"),
        CONFIG,
    )
    add(
        "alias bomb of targets",
        "t: &t {name: a, backend: ray, url: 'http://h:1'}\n"
        + "".join(
            f"m{i}: &m{i} [{', '.join([f'*m{i - 1}' if i else '*t'] * 10)}]\n" for i in range(6)
        )
        + "targets: *m5\n",
        CONFIG,
    )
    add("recursive alias", base.replace("X-Team: platform", "X-Team: &r [*r]"), CONFIG)
    chain = "".join(
        f"c{i}: &c{i} " + "[" * 30 + (f"*c{i - 1}" if i else "x") + "]" * 30 + "\n"
        for i in range(5)
    )
    add("aliases nesting deeper together", chain + base, CONFIG)
    add(
        "alias repeating a target",
        "targets: [&t {name: a, backend: ray, url: 'http://h:1'}, *t]\n",
        "targets[1].name",
    )
    cases += attribution_cases()
    return cases


def attribution_cases() -> list[Case]:
    """Broken ``attribution`` settings: names, fields, caps and histograms."""
    ray = ("targets", 0, "attribution")
    team = {"team": "metadata.team"}
    out = []

    def add(name: str, data_or_text: Any, expect: str) -> None:
        text = data_or_text if isinstance(data_or_text, str) else _text(data_or_text)
        out.append(Case(f"attribution {name}", text, expect))

    for label in ("status", "job_id", "le", "__team", "1team", "te-am", "target"):
        add(
            f"label {label}",
            _with(ray, {"labels": {label: "metadata.team"}}),
            f"{_where(ray)}.labels",
        )
    duplicated = _text(_with(ray, {"labels": team})).replace(
        "team: metadata.team", "team: metadata.team\n        team: metadata.user"
    )
    add("label written twice", duplicated, f"{CONFIG}: line")
    for source, why in (
        ("creatorName", "creatorName is not an attribution field"),
        ("metadata.", "metadata. is not an attribution field"),
        ("runtime_env.env_vars.TOKEN", "runtime_env.env_vars.TOKEN can carry secrets"),
        ("driver_agent_http_address", "driver_agent_http_address can carry secrets"),
    ):
        add(
            f"source {source}",
            _with(ray, {"labels": {"team": source}}),
            f"{_where(ray)}.labels.team: {why}",
        )
    emr = ("targets", 1, "attribution")
    add(
        "source dashboardUrl",
        _with(emr, {"labels": {"link": "dashboardUrl"}}),
        f"{_where(emr)}.labels.link: dashboardUrl can carry secrets",
    )
    add(
        "source metadata on emr from defaults",
        _with(("defaults", "attribution"), {"labels": team}),
        "targets[1].attribution.labels.team: metadata.team is not",
    )
    for source in ("metadata.te\nam", "metadata." + "k" * 300, "metadata.a\x00b", 5, None, ""):
        add(
            f"source {source!r:.40}",
            _with(ray, {"labels": {"team": source}}),
            f"{_where(ray)}.labels",
        )
    for cap in (0, -1, 10**9, "lots", True, 2.5, None, ["5"]):
        add(
            f"max_values {cap!r}",
            _with(ray, {"labels": team, "max_values": cap}),
            f"{_where(ray)}.max_values",
        )
    for histograms, why in (
        (["user"], "user is not in labels"),
        (["team", "team"], "team is named twice"),
    ):
        add(
            f"histograms {histograms}",
            _with(ray, {"labels": team, "histograms": histograms}),
            f"{_where(ray)}: histograms: {why}",
        )
    add(
        "histograms not a list",
        _with(ray, {"labels": team, "histograms": 5}),
        f"{_where(ray)}.histograms",
    )
    add("labels a list", _with(ray, {"labels": ["team"]}), f"{_where(ray)}.labels")
    add("unknown key", _with(ray, {"labels": team, "max_value": 5}), f"{_where(ray)}.max_value")
    return out


CASES = generate()


def test_enough_distinct_cases() -> None:
    assert len(CASES) >= 200
    assert len({case.name for case in CASES}) == len(CASES)


# --- the files the cases name ----------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("files")
    for name in SECRET_FILES.values():
        (root / name).write_text(f"{name}-value\n")
    password = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    (root / "web.yml").write_text(_text({"basic_auth_users": {"prometheus": password}}))
    os.mkfifo(root / "fifo")
    (root / "directory").mkdir()
    (root / "zero_link").symlink_to("/dev/zero")
    (root / "huge_secret").write_text("a" * (SECRET_FILE_LIMIT + 1))
    (root / "huge_config").write_text("#" * (CONFIG_FILE_LIMIT + 1))
    (root / "empty").write_text("")
    (root / "not_utf8").write_bytes(b"\xff\xfe" + SECRET.encode())
    (root / "non_ascii").write_text(f"{SECRET}ø\n")
    (root / "inner_space").write_text(f"{SECRET} x\n")
    (root / "not_a_pem").write_text("not a certificate\n")
    (root / "web-deep.yml").write_text("a: " + "[" * 200 + "]" * 200 + "\n")
    (root / "web-bomb.yml").write_text(_bomb())
    (root / "web-tls-fifo.yml").write_text(
        _text(
            {
                "tls_server_config": {
                    "cert_file": str(root / "fifo"),
                    "key_file": str(root / "not_a_pem"),
                }
            }
        )
    )
    (root / "web-bad-hash.yml").write_text(_text({"basic_auth_users": {"u": SECRET}}))
    return root


def write_case(case: Case, path: Path, files: Path, ray_url: str = "http://127.0.0.1:8265"):
    """Put the case at ``path``: its text, or the special file it is."""
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink(missing_ok=True)
    special = case.special
    if not special:
        text = case.text.replace(FILES, str(files)).replace(RAY, ray_url)
        path.write_text(text.replace(CONFIG, str(path)))
    elif special in ("dev_zero", "zero_link"):
        path.symlink_to("/dev/zero")
    elif special == "fifo":
        os.mkfifo(path)
    elif special == "directory":
        path.mkdir()
    elif special == "huge_config":
        path.write_text("#" * (CONFIG_FILE_LIMIT + 1))
    elif special == "not_utf8":
        path.write_bytes(b"targets: \xff\n")
    else:
        assert special == "missing"


def expected_line(case: Case, path: Path, files: Path) -> str:
    expect = case.expect.replace(FILES, str(files)).replace(CONFIG, str(path))
    return "config error: " + one_line(expect)  # control characters in a key are escaped


def check_output(case: Case, code: int, output: str, path: Path, files: Path) -> None:
    assert "Traceback" not in output, output
    assert SECRET not in output, output
    lines = [line for line in output.splitlines() if line.startswith("config error:")]
    assert code == 2, output
    assert len(lines) == 1, output
    assert lines[0].startswith(expected_line(case, path, files)), lines[0]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def _kept_logging() -> Iterator[None]:
    """main() configures the root logger: put pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def run_main(args: list[str]) -> tuple[int, str]:
    """``cli.main`` in this process: (exit code, everything it wrote).

    Should a configuration be accepted by mistake, start would serve: a SIGTERM after 20 s
    ends it (exit 0, which fails the test) instead of a hung run."""
    out = io.StringIO()
    guard = threading.Timer(20, os.kill, (os.getpid(), signal.SIGTERM))
    guard.start()
    try:
        with _kept_logging(), contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
            code = cli.main(args)
    finally:
        guard.cancel()
    return code, out.getvalue()


def test_the_base_configuration_is_valid(files: Path, tmp_path: Path, clean_environment) -> None:
    path = tmp_path / "config.yaml"
    write_case(Case("base", _text(BASE), ""), path, files)
    code, output = run_main(["--config.file", str(path), "--check-config"])
    assert code == 0, output
    assert output.startswith("configuration OK: 4 target(s)")


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_broken_config_in_process(
    case: Case, files: Path, tmp_path: Path, clean_environment
) -> None:
    path = tmp_path / "config.yaml"
    for mode in (["--check-config"], ["--web.listen-address", f"127.0.0.1:{free_port()}"]):
        write_case(case, path, files)
        started = time.monotonic()
        code, output = run_main(["--config.file", str(path), *mode])
        elapsed = time.monotonic() - started
        check_output(case, code, output, path, files)
        assert elapsed < 2.0, f"{case.name}: {elapsed:.1f}s"


# --- real processes --------------------------------------------------------------------------

# What the issue saw crash or hang, always among the samples run as real processes
SEEN = (
    "non-ASCII header value",
    "non-ASCII token",
    "nested 5000 levels (flow)",
    "alias bomb at a header value",
    "dev_zero at targets[0].credentials.token_file",
    "fifo at targets[0].credentials.token_file",
    "url user info and token file",
)


def sample(seed: int, cases: list[Case], size: int = 20) -> list[Case]:
    """The cases the issue saw, then a seeded random choice of the rest."""
    seen = [case for case in cases if case.name in SEEN]
    assert len(seen) == len(SEEN)
    rest = [case for case in cases if case.name not in SEEN]
    return seen + random.Random(seed).sample(rest, size - len(seen))


SAMPLE = sample(SEED + 1, CASES)
ENV = {"PATH": "/usr/bin:/bin"}


def _run_process(case: Case, path: Path, files: Path, mode: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path), *mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=ENV,
        check=False,
    )
    check_output(case, result.returncode, result.stdout + result.stderr, path, files)


@pytest.mark.slow
def test_broken_config_in_real_processes(files: Path, tmp_path: Path) -> None:
    """The sample, each as --check-config and as start, four processes at a time."""
    jobs: list[Callable[[], None]] = []
    for index, case in enumerate(SAMPLE):
        path = tmp_path / f"config-{index}.yaml"
        write_case(case, path, files)
        for mode in (["--check-config"], ["--web.listen-address", f"127.0.0.1:{free_port()}"]):
            jobs.append(lambda c=case, p=path, m=mode: _run_process(c, p, files, m))
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


@pytest.mark.slow
def test_sighup_with_a_broken_config_keeps_the_running_one(files: Path, tmp_path: Path) -> None:
    reloads = sample(SEED + 2, [case for case in CASES if case.reloadable])
    reloads += [case for case in attribution_cases() if case.name not in {c.name for c in reloads}]
    config, log = tmp_path / "config.yaml", tmp_path / "exporter.log"
    with RaySimulator() as sim:
        sim.add_job("j", status="RUNNING")
        target = sim.target_config("ray", resources=["jobs"], poll_interval="300ms")
        config.write_text(_text({"targets": [target]}))
        port = free_port()
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--config.file", str(config),
                 "--web.listen-address", f"127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT, env=ENV,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, process)
            assert eventually(lambda: b'target="ray"' in httpx.get(f"{base}/metrics").content)
            before = value(
                httpx.get(f"{base}/metrics").content,
                "jobfleet_poll_last_success_timestamp_seconds",
                target="ray",
            )
            for count, case in enumerate(reloads, start=1):
                write_case(case, config, files, sim.url)
                os.kill(process.pid, signal.SIGHUP)
                try:
                    eventually(
                        lambda n=count: log.read_text().count("configuration reload refused") == n,
                        timeout=20,
                        step=0.05,
                    )
                except AssertionError:
                    tail = log.read_text()[-4000:]
                    missing = f"{case.name}: no refusal number {count}"
                    raise AssertionError(f"{missing}; log:\n{tail}") from None
                assert process.poll() is None, case.name
            body = httpx.get(f"{base}/metrics").content
            assert value(body, "jobfleet_config_last_reload_successful") == 0
            assert value(body, "jobfleet_target_up", target="ray") == 1
            assert eventually(  # still polled on the old configuration
                lambda: (
                    value(
                        httpx.get(f"{base}/metrics").content,
                        "jobfleet_poll_last_success_timestamp_seconds",
                        target="ray",
                    )
                    > before
                )
            )
        finally:
            process.terminate()
            process.wait(timeout=20)
    text = log.read_text()
    assert "Traceback" not in text and SECRET not in text
