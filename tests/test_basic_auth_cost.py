"""An unknown user's first attempt costs what a known user's does, when users have different
bcrypt costs: over real HTTP, with a check that records the cost of each hash it is given.
The salts are fixed, so the users file, and with it every pick, is the same at every run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml

from exporter.web.basic_auth import bcrypt_check
from exporter.web.server import WebOptions
from exporter.web.web_config import WebSecurity

from .test_web_face import Calls, served

USERS = {"ann": ("a", 4), "bob": ("b", 4), "cyd": ("c", 5), "dee": ("d", 6)}
UNKNOWN = [f"nobody-{i}" for i in range(200)]


def users_file(path: Path, salt: bytes) -> Path:
    """The users, each hashed with the 22-character ``salt``."""
    hashes = {
        user: bcrypt.hashpw(password.encode(), b"$2b$%02d$%s" % (cost, salt)).decode()
        for user, (password, cost) in USERS.items()
    }
    path.write_text(yaml.safe_dump({"basic_auth_users": hashes}))
    return path


def costs_checked(web: Path, attempts: list[tuple[str, str]], status: int) -> list[int]:
    """A fresh server (as after a restart) on ``web``; each attempt is a first one, answered
    with ``status``; the cost of the hash each attempt was checked against, in order."""
    calls = Calls()

    def check(password: bytes, hashed: bytes) -> bool:
        calls.record(int(hashed[4:6]))
        return bcrypt_check(password, hashed)

    security = WebSecurity(web, check=check)
    with served(WebOptions(security=security)) as (port, _), httpx.Client(timeout=10) as client:
        url = f"http://127.0.0.1:{port}/metrics"
        for attempt in attempts:
            assert client.get(url, auth=attempt).status_code == status
    assert calls.count == len(attempts)
    return [cost for (cost,) in calls.args]


@pytest.mark.slow
def test_unknown_users_take_the_users_costs_each_the_same_whatever_the_password(
    tmp_path: Path,
) -> None:
    web = users_file(tmp_path / "web.yml", b"abcdefghijklmnopqrstuu")
    known = [(user, password) for user, (password, _) in USERS.items()]
    assert costs_checked(web, known, 200) == [cost for _, cost in USERS.values()]

    unknown = costs_checked(web, [(name, "x") for name in UNKNOWN], 401)
    counts = Counter(unknown)
    assert set(counts) == {4, 5, 6}  # each configured cost, none other
    assert counts[4] > counts[5] and counts[4] > counts[6]  # half the users have cost 4
    # the name alone decides: another password, after a restart, costs the same
    assert costs_checked(web, [(name, "y") for name in UNKNOWN], 401) == unknown


@pytest.mark.slow
def test_which_cost_an_unknown_user_gets_is_keyed_by_the_users_hashes(tmp_path: Path) -> None:
    """The same users and costs, other salts: another pick, which an attacker who knows the
    names and costs but not the hashes cannot compute."""
    attempts = [(name, "x") for name in UNKNOWN]
    one = costs_checked(users_file(tmp_path / "one.yml", b"abcdefghijklmnopqrstuu"), attempts, 401)
    two = costs_checked(users_file(tmp_path / "two.yml", b"ABCDEFGHIJKLMNOPQRSTUu"), attempts, 401)
    assert one != two
    assert set(one) == set(two) == {4, 5, 6}
