"""A fleet under attack: one exporter process polls a dozen hostile backends at once, beside a
well-behaved one, and every invariant holds for every attack at the same time.

The invariants, for each hostile target: the process does not crash; its peak memory stays
bounded; each poll ends by its timeout, with the reason the attack deserves (or succeeds, when
the damage is confined to one item); the good target's jobs are still exported; and no planted
secret reaches the logs (debug level, text and JSON), the landing page or ``/metrics``, nor can
a logged value forge a log line. The narrower tests of each class live in
test_hostile_http.py and test_hostile_answers.py.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from .helpers import (
    ROOT,
    eventually,
    free_port,
    peak_rss_kib,
    samples,
    stop_with_sigterm,
    value,
    wait_ready,
)
from .test_hostile_http import (
    RawServer,
    answer,
    assert_good_exported,
    good_ray,
    nested_gzip_bomb,  # noqa: F401 - a fixture
    private_ca,  # noqa: F401 - a fixture
    read_request,
    trickled_headers,
    trickled_tls_handshake,
)
from .test_unique_label_values import COLLIDING_IDS

TIMEOUT_S = 2.0
MARGIN_S = 1.5  # the watchdog's margin, thread scheduling, and a loaded machine
PEAK_RSS_LIMIT_KIB = 250 * 1024
FORGED = "ts=forged level=ERROR msg=forged"
ENTRYPOINT_SECRET = "entrypoint-secret-0123456789"
TEAM_SLOTS = 5  # the fleet's attribution cap


def attribution_jobs() -> list[dict]:
    """Jobs whose attribution fields attack: more teams than slots, a forged log line, a
    200 KB value, values that are no text, a secret quoted in an entrypoint assignment."""
    teams: list[object] = [f"t{i}" for i in range(8)]
    teams += [f"x\n{FORGED}", "v" * 200_000, {"a": 1}, 7, None, "other"]
    jobs = [job(f"a-{i}", metadata={"team": team}) for i, team in enumerate(teams)]
    jobs[0]["entrypoint"] = f'TOKEN="x {ENTRYPOINT_SECRET}" python train.py'
    return jobs


ATTRIBUTION_OVERFLOW = 6  # t5, t6, t7, the forged line, the 200 KB value, 7


def jobs_answer(jobs: list[dict]) -> Callable[[socket.socket], None]:
    body = json.dumps(jobs).encode()
    return lambda conn: (read_request(conn), answer(conn, "200 OK", body))


def raw_answer(status: str, body: bytes, **headers: str) -> Callable[[socket.socket], None]:
    return lambda conn: (read_request(conn), answer(conn, status, body, **headers))


def echo_headers(conn: socket.socket) -> None:
    """An error that echoes every request header back, with a forged log line after it."""
    headers = read_request(conn)
    body = json.dumps({"message": f"you sent {json.dumps(headers)}\n{FORGED}"}).encode()
    answer(conn, "500 Internal Server Error", body)


def job(key: str, **fields: object) -> dict:
    return {"submission_id": key, "status": "RUNNING", "start_time": 1755484077, **fields}


def bytes_answer(body: bytes) -> Callable[[socket.socket], None]:
    return lambda conn: (read_request(conn), answer(conn, "200 OK", body))


# name: (handler, https?, expected reason or None for success, jobs expected when it succeeds)
def attacks(bomb: bytes) -> dict[str, tuple[Callable[[RawServer], Callable], str, str | None, int]]:
    invalid_utf8 = json.dumps([job("u-1", metadata={"job_name": "@@"}), job("u-2")]).encode()
    huge_number = json.dumps([job("n-1", start_time="@@"), job("n-2")]).encode()
    huge_error = b"E" * 2**19 + b"\n" + FORGED.encode()  # half the size cap, on one line
    return {
        "gzip-bomb": (
            lambda s: raw_answer("200 OK", bomb, Content_Encoding="gzip, gzip"),
            "http",
            "too_large",
            0,
        ),
        "trickled-headers": (trickled_headers, "http", "timeout", 0),
        "trickled-tls": (trickled_tls_handshake, "https", "timeout", 0),
        "private-ca": (lambda s: jobs_answer([job("tls-1")]), "https-ca", "tls", 0),
        "deep-json": (lambda s: bytes_answer(b"[" * 100_000), "http", "parse", 0),
        "echo": (lambda s: echo_headers, "http", "http", 0),
        "huge-error": (
            lambda s: raw_answer("500 Internal Server Error", huge_error),
            "http",
            "http",
            0,
        ),
        "retry-after-1e9": (
            lambda s: raw_answer("429 Too Many Requests", b"{}", Retry_After="1000000000"),
            "http",
            "throttled",
            0,
        ),
        "invalid-utf8": (
            lambda s: bytes_answer(invalid_utf8.replace(b"@@", b"bad \xff\xfe\xc3 name")),
            "http",
            None,
            2,
        ),
        "huge-number": (
            lambda s: bytes_answer(huge_number.replace(b'"@@"', b"9" * 5000)),
            "http",
            None,
            2,
        ),
        "colliding-ids": (
            lambda s: jobs_answer([job(k) for k in COLLIDING_IDS]),
            "http",
            None,
            len(COLLIDING_IDS),
        ),
        "hostile-attribution": (lambda s: jobs_answer(attribution_jobs()), "http", None, 14),
        "newline-ids": (
            lambda s: jobs_answer([job(f"x\n{FORGED}", status=f"ODD\n{FORGED}")]),
            "http",
            None,
            1,
        ),
    }


def secrets_of(name: str) -> dict[str, str]:
    return {"token": f"{name}-bearer-token-0123456789", "header": f"{name}-api-key-0123456789"}


@contextmanager
def hostile_fleet(bomb: bytes, pki: dict[str, Path]) -> Iterator[tuple[list[dict], list[str]]]:
    """Every attack on a server of its own; yield the targets (the good one last) and every
    planted secret."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki["cert"], pki["key"])
    targets, planted = [], []
    with ExitStack() as stack:
        for name, (make_handler, scheme, _, _) in attacks(bomb).items():
            server = RawServer(lambda conn: None, wrap=tls if scheme == "https-ca" else None)
            server.handler = make_handler(server)
            stack.enter_context(server)
            url = f"{'https' if scheme.startswith('https') else 'http'}://127.0.0.1:{server.port}"
            secret = secrets_of(name)
            planted += secret.values()
            targets.append(
                {
                    "name": name,
                    "backend": "ray",
                    "url": url,
                    "resources": ["jobs"],
                    "credentials": {"token": secret["token"]},
                    "headers": {"X-Api-Key": secret["header"]},
                }
            )
        targets.append(stack.enter_context(good_ray()))
        yield targets, [*planted, ENTRYPOINT_SECRET]


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_fleet_of_hostile_backends_breaks_no_invariant(
    log_format: str,
    tmp_path: Path,
    nested_gzip_bomb: bytes,  # noqa: F811
    private_ca: dict[str, Path],  # noqa: F811
) -> None:
    expected = attacks(nested_gzip_bomb)
    with hostile_fleet(nested_gzip_bomb, private_ca) as (targets, planted):
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "defaults": {
                        "timeout": f"{TIMEOUT_S}s",
                        "poll_interval": "1s",
                        "per_job_series": "all",
                        "max_response_bytes": 2**20,
                        "attribution": {
                            "labels": {"team": "metadata.team", "program": "entrypoint"},
                            "max_values": TEAM_SLOTS,
                            "histograms": ["team"],
                        },
                    },
                    "targets": targets,
                }
            )
        )
        port, log = free_port(), tmp_path / "exporter.log"
        with open(log, "wb") as stderr:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "exporter", "--config.file", str(config)),
                    *("--log.level", "debug", "--log.format", log_format),
                    *("--web.listen-address", f"127.0.0.1:{port}"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=ROOT,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                wait_ready(base, process, timeout=60)  # every target tried once

                def every_target_polled_twice() -> bool:
                    body = httpx.get(f"{base}/metrics", timeout=10).content
                    counts = {
                        dict(labels)["target"]: v
                        for (name, labels), v in samples(body).items()
                        if name == "jobfleet_poll_duration_seconds_count"
                    }
                    backing_off = {"retry-after-1e9"}  # polls again only after its wait
                    return all(
                        counts.get(t["name"], 0) >= (1 if t["name"] in backing_off else 2)
                        for t in targets
                    )

                assert eventually(every_target_polled_twice, timeout=60)
                metrics = httpx.get(f"{base}/metrics", timeout=10).content
                page = httpx.get(f"{base}/", timeout=10).text
                healthz = httpx.get(f"{base}/healthz", timeout=10).status_code
                peak_kib = peak_rss_kib(process.pid)
                assert process.poll() is None, "the exporter died"
                stop_with_sigterm(process)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
    logs = log.read_text(encoding="utf-8")

    assert healthz == 200
    assert peak_kib < PEAK_RSS_LIMIT_KIB, f"peak RSS {peak_kib} KiB"
    assert_good_exported(metrics)
    for name, (_, _, reason, jobs) in expected.items():
        polls = value(metrics, "jobfleet_poll_duration_seconds_count", target=name)
        took = value(metrics, "jobfleet_poll_duration_seconds_sum", target=name)
        assert took <= polls * (TIMEOUT_S + MARGIN_S), f"{name}: {took:.1f}s over {polls} polls"
        if reason is None:
            assert value(metrics, "jobfleet_target_up", target=name) == 1, name
            assert value(metrics, "jobfleet_jobs", target=name) == jobs, name
        else:
            assert value(metrics, "jobfleet_target_up", target=name) == 0, name
            errors = value(metrics, "jobfleet_poll_errors_total", target=name, reason=reason)
            assert errors >= 1, f"{name}: no {reason} error"
    ids = {
        dict(labels)["job_id"]
        for (n, labels), _ in samples(metrics).items()
        if n == "jobfleet_job_info" and dict(labels)["target"] == "colliding-ids"
    }
    assert len(ids) == len(COLLIDING_IDS)
    teams = {
        dict(labels).get("team")
        for (n, labels), _ in samples(metrics).items()
        if n == "jobfleet_jobs_submitted_total" and dict(labels)["target"] == "hostile-attribution"
    }
    assert teams == {f"t{i}" for i in range(TEAM_SLOTS)} | {"other", ""}
    overflow = value(
        metrics, "jobfleet_attribution_overflow_total", target="hostile-attribution", label="team"
    )
    assert overflow == ATTRIBUTION_OVERFLOW

    for secret in planted:
        for where, text in (("log", logs), ("landing page", page), ("metrics", metrics.decode())):
            assert secret not in text, f"{secret} in the {where}"
    lines = logs.splitlines()
    assert lines and max(len(line) for line in lines) < 6000
    if log_format == "json":
        assert all(json.loads(line)["msg"] is not None for line in lines)
    else:
        assert all(line.startswith("ts=") for line in lines), "a forged or broken log line"
        assert not any("\nts=forged" in line or line.startswith(FORGED) for line in lines)
