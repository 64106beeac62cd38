"""Hostile answers, through each backend's simulator behind a rewriting proxy: one bad item
(invalid UTF-8, a number no field can use) never costs the other jobs, and a document too deep
to parse is reason ``parse``, quickly."""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.backends import registry
from exporter.backends.kit.fields import number, parse_epoch, read_item
from exporter.backends.modelarts_lite import MAX_FETCHES_BY_ID, UNKNOWN_RECHECKS
from exporter.config.parse import parse_config
from exporter.http.decode import UndecodableJson, decode_json
from exporter.simulators.base import Simulator, read_path, write_path
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.ray import RaySimulator

from .helpers import promtool_check_metrics, samples, value
from .test_hostile_http import (
    RawServer,
    answer,
    assert_good_exported,
    good_ray,
    metrics_and_peak_rss,
    ray_target,
    read_request,
)

BACKENDS = registry.names()
BAD_BYTES = b"name \xff\xfe\xc3 end"  # not UTF-8: a stray byte pair and a cut sequence
HUGE_NUMBER = b"9" * 5000  # past Python's 4,300-digit limit for reading an int
MARKER = "@@MARKER@@"
JOB_IDS = ("good-1", "odd", "good-2")


class RewritingProxy:
    """Forwards GETs to ``upstream`` and hands each 200 answer's body through ``rewrite``."""

    def __init__(self, upstream: str, rewrite: Callable[[bytes], bytes]) -> None:
        address = upstream.removeprefix("http://")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                connection = http.client.HTTPConnection(address, timeout=10)
                connection.request("GET", self.path, headers=dict(self.headers.items()))
                answer = connection.getresponse()
                body = answer.read()
                connection.close()
                if answer.status == 200:
                    body = rewrite(body)
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> RewritingProxy:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def three_jobs(kind: str) -> Iterator[Simulator]:
    """The backend's simulator with three running jobs; the middle one, ``odd``, named MARKER."""
    with registry.declaration(kind).simulator(kind) as sim:
        for key in JOB_IDS:
            sim.add_running_job(key, name=MARKER if key == "odd" else key)
        yield sim


def _job_list(payload: Any, sim: type[Simulator]) -> Any:
    """The list of jobs in an answer (``JOB_LIST_KEY`` a dotted path, or None: the answer)."""
    return payload if sim.JOB_LIST_KEY is None else read_path(payload, sim.JOB_LIST_KEY)


def _items(payload: Any, sim: type[Simulator]) -> list[dict[str, Any]]:
    jobs = _job_list(payload, sim)
    return [item for item in jobs if isinstance(item, dict)] if isinstance(jobs, list) else []


def invalid_utf8(body: bytes) -> bytes:
    return body.replace(MARKER.encode(), BAD_BYTES)


def huge_time_of_odd(kind: str) -> Callable[[bytes], bytes]:
    """The ``odd`` job's submission time becomes a 5,000-digit number."""
    return huge_time_rewrite(type(registry.declaration(kind).simulator(kind)))


def huge_time_rewrite(sim: type[Simulator]) -> Callable[[bytes], bytes]:
    """Rewrite an answer of ``sim``'s API: the ``odd`` job's submission time, at the paths the
    simulator declares, becomes a 5,000-digit number."""

    def rewrite(body: bytes) -> bytes:
        payload = json.loads(body)
        for item in _items(payload, sim):
            if read_path(item, sim.JOB_ID_FIELD) == "odd":
                write_path(item, sim.JOB_SUBMIT_FIELD, MARKER)
        return json.dumps(payload).encode().replace(f'"{MARKER}"'.encode(), HUGE_NUMBER)

    return rewrite


def poll_through(kind: str, rewrite: Callable[[bytes], bytes]) -> tuple[Exporter, bytes]:
    """One jobs poll of ``kind``'s simulator through a proxy applying ``rewrite``."""
    with three_jobs(kind) as sim, RewritingProxy(sim.url, rewrite) as proxy:
        target = sim.target_config("t", resources=["jobs"], timeout="3s", per_job_series="all")
        target["endpoint" if "endpoint" in target else "url"] = proxy.url
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            exporter.poll_all_once()
        finally:
            exporter.close()
    return exporter, exporter.exposition.body()


def job_series(body: bytes, family: str) -> dict[str, dict[str, str]]:
    return {
        labels["job_id"]: labels
        for (name, frozen) in samples(body)
        if name == family and "job_id" in (labels := dict(frozen))
    }


@pytest.mark.parametrize("kind", BACKENDS)
def test_invalid_utf8_in_one_job_keeps_every_job_with_the_damage_replaced(kind: str) -> None:
    exporter, body = poll_through(kind, invalid_utf8)
    assert exporter.pollers[0].health["jobs"].last_error == ""
    assert value(body, "jobfleet_target_up", resource="jobs") == 1
    info = job_series(body, "jobfleet_job_info")
    assert sorted(info) == sorted(JOB_IDS)
    assert info["odd"]["job_name"] == BAD_BYTES.decode("utf-8", "replace")
    assert info["good-1"]["job_name"] == "good-1"
    assert value(body, "jobfleet_list_items_skipped_total") == 0
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("kind", BACKENDS)
def test_huge_number_leaves_its_field_unset_and_every_job_exported(kind: str) -> None:
    exporter, body = poll_through(kind, huge_time_of_odd(kind))
    assert exporter.pollers[0].health["jobs"].last_error == ""
    assert value(body, "jobfleet_target_up", resource="jobs") == 1
    assert sorted(job_series(body, "jobfleet_job_info")) == sorted(JOB_IDS)
    submitted = job_series(body, "jobfleet_job_submit_timestamp_seconds")
    assert sorted(submitted) == ["good-1", "good-2"]  # odd's time is unset, not 9e4999


DEPTH = 100_000
DEEP_ARRAY = b"[" * DEPTH + b"]" * DEPTH
DEEP_MIXED = b'{"k": [' * (DEPTH // 2) + b'"x"' + b"]}" * (DEPTH // 2)  # a string at the bottom


def replaced_odd(kind: str, where: str) -> Callable[[bytes], bytes]:
    """The ``odd`` job's whole item, or its name, becomes a value nested 100,000 deep; with
    ``where`` "number", its item becomes 7 (an item of the wrong shape)."""
    return replaced_odd_rewrite(type(registry.declaration(kind).simulator(kind)), where)


def replaced_odd_rewrite(sim: type[Simulator], where: str) -> Callable[[bytes], bytes]:
    """``replaced_odd`` for an answer of ``sim``'s API, found at the paths it declares."""
    replacement = b"7" if where == "number" else DEEP_ARRAY

    def rewrite(body: bytes) -> bytes:
        if where == "name":
            return body.replace(f'"{MARKER}"'.encode(), DEEP_MIXED)
        payload = json.loads(body)
        jobs = _job_list(payload, sim)
        for index, item in enumerate(jobs if isinstance(jobs, list) else ()):
            if isinstance(item, dict) and read_path(item, sim.JOB_ID_FIELD) == "odd":
                jobs[index] = MARKER
        return json.dumps(payload).encode().replace(f'"{MARKER}"'.encode(), replacement)

    return rewrite


@pytest.mark.slow
@pytest.mark.parametrize("where", ["item", "name"])
@pytest.mark.parametrize("kind", BACKENDS)
def test_an_item_too_deep_is_skipped_and_counted_and_the_others_exported(
    kind: str, where: str
) -> None:
    """As an item of the wrong shape (7) is: counted as often as that one is (once per answer
    that lists it: a poll of EMR asks twice)."""
    exporter, body = poll_through(kind, replaced_odd(kind, where))
    health = exporter.pollers[0].health["jobs"]
    assert (health.last_reason, health.last_error) == ("", "")
    assert value(body, "jobfleet_target_up", resource="jobs") == 1
    assert sorted(job_series(body, "jobfleet_job_info")) == ["good-1", "good-2"]
    _, wrong_shape = poll_through(kind, replaced_odd(kind, "number"))
    skipped = value(body, "jobfleet_list_items_skipped_total", resource="jobs")
    assert skipped == value(wrong_shape, "jobfleet_list_items_skipped_total", resource="jobs")
    assert skipped >= 1
    assert value(body, "jobfleet_poll_errors_total", reason="parse") == 0
    assert value(body, "jobfleet_poll_duration_seconds_sum", resource="jobs") < 2.0


class NestedIds(Simulator):
    """An API whose answers nest the list, ids and times, as Kubernetes' do."""

    JOB_LIST_KEY = "status.items"
    JOB_ID_FIELD, JOB_SUBMIT_FIELD = "metadata.name", "status.startTime"


def _nested_answer() -> bytes:
    items = [
        {"metadata": {"name": key}, "status": {"startTime": 1_800_000_000 + i}}
        for i, key in enumerate(JOB_IDS)
    ]
    return json.dumps({"kind": "List", "status": {"items": items}}).encode()


def test_the_rewrites_follow_nested_list_id_and_time_paths() -> None:
    """So a backend whose ids and times are nested gets the same hostile answers."""
    huge = huge_time_rewrite(NestedIds)(_nested_answer())
    assert huge.count(HUGE_NUMBER) == 1
    items = decode_json(huge)["status"]["items"]
    assert [item["status"]["startTime"] for item in items] == [1_800_000_000, None, 1_800_000_002]
    wrong_shape = decode_json(replaced_odd_rewrite(NestedIds, "number")(_nested_answer()))
    assert [read_path(item, "metadata.name") for item in wrong_shape["status"]["items"]] == [
        "good-1",
        None,
        "good-2",
    ]
    assert wrong_shape["status"]["items"][1] == 7


@pytest.mark.parametrize("kind", BACKENDS)
def test_deep_json_is_a_quick_parse_error(kind: str) -> None:
    depth = 100_000
    exporter, body = poll_through(kind, lambda _: b"[" * depth + b"]" * depth)
    health = exporter.pollers[0].health["jobs"]
    assert (health.last_reason, value(body, "jobfleet_target_up", resource="jobs")) == ("parse", 0)
    assert "nested too deep" in health.last_error
    assert value(body, "jobfleet_poll_errors_total", reason="parse") == 1
    assert value(body, "jobfleet_poll_errors_total", reason="other") == 0
    assert value(body, "jobfleet_poll_duration_seconds_sum", resource="jobs") < 2.0


@pytest.mark.slow
def test_deep_json_in_a_running_exporter_is_parse_with_bounded_memory(tmp_path: Path) -> None:
    depth = 4 * 2**20  # 8 MiB of brackets
    deep = b"[" * depth + b"]" * depth

    def serve(conn: socket.socket) -> None:
        read_request(conn)
        answer(conn, "200 OK", deep, Content_Type="application/json")

    with RawServer(serve) as server, good_ray() as good:
        metrics, peak_kib = metrics_and_peak_rss(
            tmp_path, {"timeout": "5s"}, ray_target("deep", server.url), good
        )
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"
    assert value(metrics, "jobfleet_poll_errors_total", target="deep", reason="parse") == 1
    assert value(metrics, "jobfleet_poll_errors_total", target="deep", reason="other") == 0
    assert value(metrics, "jobfleet_target_up", target="deep") == 0
    assert value(metrics, "jobfleet_poll_duration_seconds_sum", target="deep") < 2.0
    assert_good_exported(metrics)


# --- the readers behind it, case by case ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (b'[{"name": "a\xffb"}]', [{"name": "a\ufffdb"}]),
        (b'{"n": ' + HUGE_NUMBER + b', "m": 7}', {"n": None, "m": 7}),
        (b"[NaN, Infinity, -Infinity, 1.5]", [None, None, None, 1.5]),
        (b"[1e999]", [float("inf")]),  # read, then refused by every number field
        (b"[123456789012345678901234567890]", [1.2345678901234568e29]),
        (b'\xef\xbb\xbf{"bom": true}', {"bom": True}),
        ('["\u00e9"]'.encode("utf-16"), ["\u00e9"]),
    ],
)
def test_lenient_decoding(body: bytes, decoded: Any) -> None:
    assert decode_json(body) == decoded


@pytest.mark.parametrize(
    "body", [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000, b"", b"[,]"]
)
def test_undecodable_documents_fail_fast_as_undecodable(body: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(UndecodableJson):
        decode_json(body)
    assert time.monotonic() - started < 1.0


TRICKY = ']}, {"[x\\", "\u005d' + "\\"  # brackets, quotes and backslashes in one string
TRICKY_JSON = json.dumps(TRICKY)
DEEP_TEXT = DEEP_ARRAY.decode()
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (f'[{{"a": 1}}, {DEEP_TEXT}, {{"b": 2}}]', [{"a": 1}, None, {"b": 2}]),
        (
            f'{{"n": 3, "rayJobs": [{DEEP_TEXT}, "j"], "m": 4}}',
            {"n": 3, "rayJobs": [None, "j"], "m": 4},
        ),
        (
            f'{{"data": [{{"name": {DEEP_TEXT}, "id": "x"}}, {{"id": "y"}}]}}',
            {"data": [None, {"id": "y"}]},
        ),
        (f'{{"a": {{"b": [1, {DEEP_TEXT}]}}, "c": 2}}', {"a": {"b": [1, None]}, "c": 2}),
        (f"[{DEEP_TEXT},{DEEP_TEXT}]", [None, None]),
        (f'[{{"a": 1, "b": {DEEP_TEXT}}}]', [None]),  # an item with more in it than the depth
        (f" \n[ {{}} ,\n\t{DEEP_TEXT} ,{TRICKY_JSON} ] \n", [{}, None, TRICKY]),
        (
            f'[[{{"k": {TRICKY_JSON}}}, ' + "[" * 3000 + TRICKY_JSON + "]" * 3000 + "], 7]",
            [None, 7],
        ),
        (
            f'[{{"n": NaN, "big": {HUGE}, "s": "\udcff"}}, {DEEP_TEXT}]',  # \udcff: byte 0xff
            [{"n": None, "big": None, "s": "\ufffd"}, None],
        ),
    ],
)
def test_a_list_member_too_deep_is_read_as_null_and_the_rest_as_ever(
    body: str, decoded: Any
) -> None:
    started = time.monotonic()
    assert decode_json(body.encode("utf-8", "surrogateescape")) == decoded
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "body",
    [
        # too deep in no list (objects down to past MAX_WALK): no item to skip
        '{"a": [1, 2], "b": ' + '{"c": ' * 60_000 + "[1]" + "}" * 60_000 + "}",
        f'[{{"a": {DEEP_TEXT}}}]',  # nothing but the nesting: not one "," outside strings
        '{"a": ' * 50_000 + "1" + "}" * 50_000,
        f"[1, {DEEP_TEXT[:-1]}",  # never closed
        f'[1, {DEEP_TEXT[:1000]}"{DEEP_TEXT[1000:]}]',  # a string never closed
        f"[1, {DEEP_TEXT}, ]",  # JSON around it that is not JSON
        f"[1, {DEEP_TEXT}] 2",
        f'{{"a": [{DEEP_TEXT}], 3}}',
        f'{{"a": [{DEEP_TEXT}], "b" 3}}',
        f'{{"x": 0, "a": [{DEEP_TEXT}] "b": 3}}',
        f'{{"a": [{DEEP_TEXT}], "b": "\x01"}}',
    ],
)
def test_an_answer_too_deep_with_no_item_to_skip_or_not_json_fails_fast(body: str) -> None:
    started = time.monotonic()
    with pytest.raises(UndecodableJson) as raised:
        decode_json(body.encode())
    assert "[[[" not in str(raised.value) and '"a"' not in str(raised.value)  # no content
    assert time.monotonic() - started < 1.0


def _random_value(rng: random.Random, size: int) -> Any:
    pick = rng.random()
    if size <= 0 or pick < 0.3:
        return rng.choice([None, True, 1, -2.5, "", TRICKY, "x" * rng.choice([1, 5000])])
    if pick < 0.65:
        return [_random_value(rng, size // 2) for _ in range(rng.randint(0, 4))]
    return {rng.choice("abc") + str(i): _random_value(rng, size // 2) for i in range(4)}


def _too_deep(rng: random.Random, depth: int) -> str:
    """A value nested ``depth`` deep, arrays and objects mixed, with members beside the deep
    one (strings holding brackets and quotes among them) at a few levels."""
    opening, closing = [], []
    for _ in range(depth):
        beside = [json.dumps(_random_value(rng, 4))] if rng.random() < 0.02 else []
        if rng.random() < 0.5:
            opening.append("[" + "".join(f"{member}, " for member in beside))
            closing.append("".join(f", {member}" for member in beside) + "]")
        else:
            opening.append("{" + "".join(f'"k{i}": {m}, ' for i, m in enumerate(beside)) + '"d": ')
            closing.append("".join(f', "z{i}": {m}' for i, m in enumerate(beside)) + "}")
    return "".join(opening) + TRICKY_JSON + "".join(reversed(closing))


@pytest.mark.parametrize("seed", range(12))
def test_random_lists_with_members_too_deep_read_as_json_reads_them_with_those_null(
    seed: int,
) -> None:
    rng = random.Random(seed)
    members, texts = [], []
    for _ in range(rng.randint(2, 12)):
        if rng.random() < 0.3:
            members.append(None)
            texts.append(_too_deep(rng, rng.choice([1100, 3000, 20_000])))
        else:
            members.append(_random_value(rng, 8))
            texts.append(json.dumps(members[-1], indent=rng.choice([None, 2])))
    if all(text.startswith(("[", "{")) and len(text) > 2000 for text in texts):
        members.append(1)  # something beside them: not an answer of nothing but nesting
        texts.append("1")
    separator = rng.choice([",", ", ", " ,\n  "])
    body = "[" + separator.join(texts) + "]"
    if seed % 2:
        body, members = f'{{"total": 3, "jobs": {body}}}', {"total": 3, "jobs": members}
    assert decode_json(body.encode()) == members


@pytest.mark.parametrize(
    "raw",
    [10**30, -(10**30), 2**63, 1e300, "1e300", "9" * 5000, float("inf"), float("nan"), "NaN"],
)
def test_numbers_of_absurd_magnitude_are_unset(raw: object) -> None:
    assert number(raw) is None
    assert parse_epoch(raw) is None


def test_epochs_past_year_9999_are_unset() -> None:
    assert parse_epoch(253402300799000) == 253402300799.0
    assert parse_epoch(253402300800000) is None


def test_an_item_that_breaks_its_parser_is_skipped_not_raised() -> None:
    def parse(item: Any) -> str:
        return "ok" if item == 1 else str(int(item))

    assert [read_item(parse, item) for item in (1, "x", [2], 10**5000)] == ["ok", None, None, None]


# --- ModelArts: fetches by id stay bounded -------------------------------------------------


def modelarts_exporter(sim: ModelArtsLiteSimulator) -> Exporter:
    """A target whose rate (100 requests/s) lets a 1.5 s poll make 150 requests, not 201."""
    target = sim.target_config("ma", timeout="1.5s", requests_per_second=100, per_job_series="all")
    return Exporter(parse_config({"targets": [target]}))


def test_jobs_in_an_unknown_status_are_not_fetched_by_id_at_every_poll() -> None:
    with ModelArtsLiteSimulator() as sim:
        for i in range(200):
            sim.add_job(f"odd-{i}", status="SUSPENDED")  # no status this exporter knows
        sim.add_job("busy", status="PROCESSING")
        exporter = modelarts_exporter(sim)
        poller = exporter.pollers[0]
        try:
            assert poller.poll("jobs")  # the full list
            for _ in range(3):
                sim.requests.clear()
                assert poller.poll("jobs"), poller.health["jobs"].last_error
                assert sim.requests == [{"status": "PROCESSING"}]
        finally:
            exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_jobs", phase="unknown", status="SUSPENDED") == 200
    assert value(body, "jobfleet_jobs", status="PROCESSING") == 1
    assert value(body, "jobfleet_poll_errors_total") == 0


@pytest.mark.slow
def test_jobs_leaving_processing_are_found_by_the_ended_lists_the_rest_by_id_bounded() -> None:
    with ModelArtsLiteSimulator() as sim:
        keys = [sim.add_job(f"j-{i:03}", status="PROCESSING") for i in range(200)]
        exporter = modelarts_exporter(sim)
        poller = exporter.pollers[0]
        try:
            assert poller.poll("jobs")  # the full list
            for key in keys:  # all leave PROCESSING at once: half end, half to an unknown status
                sim.set_job(key, status="FINISHED" if int(key[2:]) % 2 else "SUSPENDED")
            fetched: Counter[str] = Counter()
            for _ in range(40):
                sim.requests.clear()
                assert poller.poll("jobs"), poller.health["jobs"].last_error  # within 1.5 s
                by_id = [query["id"] for query in sim.requests if "id" in query]
                lists = [query["status"] for query in sim.requests if "status" in query]
                assert lists in (["PROCESSING"], ["PROCESSING", "FINISHED", "DELETED"])
                assert len(by_id) <= MAX_FETCHES_BY_ID
                fetched.update(by_id)
                if not by_id:
                    break
        finally:
            exporter.close()
    assert not by_id, "still fetching by id after 40 polls"
    suspended = {key for key in keys if int(key[2:]) % 2 == 0}
    assert {key: fetched[key] for key in keys} == {
        key: 1 + UNKNOWN_RECHECKS if key in suspended else 0 for key in keys
    }  # the ended found by their lists; an unknown status by id only a few times, not forever
    body = exporter.exposition.body()
    assert value(body, "jobfleet_jobs_finished_total", status="FINISHED") == 100
    assert value(body, "jobfleet_jobs", phase="unknown", status="SUSPENDED") == 100
    assert value(body, "jobfleet_poll_errors_total") == 0


@pytest.mark.slow
def test_500_ends_during_a_partial_list_are_counted_in_one_poll_before_records_vanish() -> None:
    """The full list is cut short (the API's cap), 500 jobs end at once and 150 of them are
    removed from the API one poll later: every end is counted, in the poll after it (the list of
    FINISHED jobs is within the cap here; beyond it, the rest are fetched by id)."""
    with ModelArtsLiteSimulator(page_limit=600) as sim:
        for i in range(400):
            sim.add_job(f"old-{i:03}", status="DELETED")
        keys = [sim.add_job(f"j-{i:03}", status="PROCESSING") for i in range(500)]
        exporter = modelarts_exporter(sim)
        poller = exporter.pollers[0]
        try:
            assert poller.poll("jobs")  # the full list: partial, but every active job read
            assert poller.health["jobs"].incomplete
            for i, key in enumerate(keys):
                sim.set_job(key, status="FINISHED", abnormal_count=1 if i % 5 == 0 else None)
            sim.requests.clear()
            assert poller.poll("jobs"), poller.health["jobs"].last_error
            assert len(sim.requests) <= 3  # PROCESSING, FINISHED, DELETED: no fetch by id
            for key in keys[:150]:
                sim.remove_job(key)
            assert poller.poll("jobs")
        finally:
            exporter.close()
    body = exporter.exposition.body()
    assert value(body, "jobfleet_jobs_finished_total", phase="failed") == 100
    assert value(body, "jobfleet_jobs_finished_total", phase="succeeded") == 400
    assert value(body, "jobfleet_jobs_finished_total", phase="cancelled") == 0  # before baseline


def test_emr_jobs_in_an_unknown_status_are_not_asked_for_at_every_poll() -> None:
    with EmrServerlessSimulator() as sim:
        now = time.time()
        for i in range(200):  # old, spread over a month, in a status no table knows
            sim.add_job(f"odd-{i:03}", status="Suspended", submit_time=now - 30 * 86400 + i * 3600)
        sim.add_job("busy", status="Running", submit_time=now - 60)
        target = sim.target_config(
            "emr", resources=["jobs"], timeout="3s", requests_per_second=1000
        )
        exporter = Exporter(parse_config({"targets": [target]}))
        poller = exporter.pollers[0]
        try:
            assert poller.poll("jobs")  # the full walk
            for _ in range(3):
                sim.requests.clear()
                assert poller.poll("jobs"), poller.health["jobs"].last_error
                queries = [query for action, query in sim.requests if action == "ListRayJob"]
                assert len(queries) == 1 and "submitTime" in queries[0], queries  # the window
        finally:
            exporter.close()
    assert value(exporter.exposition.body(), "jobfleet_jobs", phase="unknown") == 200


def _reformatted(mode: str, body: bytes) -> bytes:
    """The same job list, its bytes changed but not its meaning (or not an array at all)."""
    jobs = json.loads(body)
    if mode == "reversed keys, indented":
        return json.dumps([dict(reversed(job.items())) for job in jobs], indent=3).encode()
    if mode == "each item twice, spaced":
        return json.dumps([job for job in jobs for _ in (0, 1)], separators=(" , ", " : ")).encode()
    if mode == "not an array":
        return json.dumps({"jobs": jobs}).encode()
    if mode == "b turns invalid":
        return json.dumps([job if job["submission_id"] != "b" else 3 for job in jobs]).encode()
    return body


def test_a_ray_list_changing_bytes_but_not_meaning_keeps_counts_exact() -> None:
    """Over HTTP, items padded past the 1 MiB a run of items is cut at, with text that looks
    like the end of an item: the list rewritten at each poll (key order, spacing, each item
    twice, an item invalid for a poll, an answer that is no array) counts every job once."""
    pad = '}, {"submission_id": "fake", "status": "FAILED"}, ' * 8_000  # ~400 KB per job
    mode = ["as sent"]
    with (
        RaySimulator() as sim,
        RewritingProxy(sim.url, lambda b: _reformatted(mode[0], b)) as proxy,
    ):
        target = sim.target_config("r", resources=["jobs"], timeout="5s")
        exporter = Exporter(parse_config({"targets": [{**target, "url": proxy.url}]}))
        try:
            assert exporter.poll_all_once()  # the baseline: no job yet
            later = sim.clock() + 2
            for key in ("a", "b", "c"):
                sim.add_job(key, status="RUNNING", metadata={"pad": pad}, start_time=later)
            for mode[0] in ("as sent", "reversed keys, indented", "each item twice, spaced"):
                assert exporter.poll_all_once(), mode[0]
            mode[0] = "not an array"
            assert not exporter.poll_all_once()  # a parse error: nothing counted or forgotten
            sim.set_status("a", "SUCCEEDED")
            for mode[0] in ("b turns invalid", "reversed keys, indented", "as sent"):
                assert exporter.poll_all_once(), mode[0]
            sim.set_status("b", "FAILED")
            for mode[0] in ("each item twice, spaced", "as sent", "reversed keys, indented"):
                assert exporter.poll_all_once(), mode[0]
            body = exporter.exposition.body()
        finally:
            exporter.close()
    assert value(body, "jobfleet_jobs_submitted_total") == 3
    assert value(body, "jobfleet_jobs_finished_total", phase="succeeded") == 1
    assert value(body, "jobfleet_jobs_finished_total", phase="failed") == 1
    assert value(body, "jobfleet_jobs", phase="running") == 1
    assert value(body, "jobfleet_poll_errors_total", reason="parse") == 1


def test_unencodable_bytes_in_attribution_values_become_distinct_storable_labels() -> None:
    """Invalid UTF-8, an escaped NUL and a lone surrogate in metadata and the entrypoint, over
    HTTP: every job is counted under a value Prometheus stores, each distinct."""

    def damage(body: bytes) -> bytes:
        body = body.replace(b"@@BAD@@", BAD_BYTES).replace(b"@@NUL@@", b"\\u0000")
        return body.replace(b"@@SURROGATE@@", b"\\ud800")

    with RaySimulator() as sim, RewritingProxy(sim.url, damage) as proxy:
        labels = {"team": "metadata.team", "program": "entrypoint"}
        target = sim.target_config("r", resources=["jobs"], attribution={"labels": labels})
        exporter = Exporter(parse_config({"targets": [{**target, "url": proxy.url}]}))
        try:
            assert exporter.poll_all_once()
            later = sim.clock() + 2
            for key, team, entrypoint in (
                ("a", "@@BAD@@", "@@BAD@@ x"),
                ("b", "@@NUL@@", "A=@@SURROGATE@@ py"),
                ("c", "@@SURROGATE@@", "python"),
                ("d", "ok", "python"),
            ):
                sim.add_job(
                    key, status="RUNNING", metadata={"team": team}, entrypoint=entrypoint,
                    start_time=later,
                )  # fmt: skip
            assert exporter.poll_all_once()
            body = exporter.exposition.body()
        finally:
            exporter.close()
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    submitted = {
        (dict(labels)["team"], dict(labels)["program"]): n
        for (name, labels), n in samples(body).items()
        if name == "jobfleet_jobs_submitted_total" and n
    }
    assert len(submitted) == 4 and sum(submitted.values()) == 4
    assert ("ok", "python") in submitted and ("name \ufffd\ufffd\ufffd end", "name") in submitted
    assert all("\x00" not in team and team for team, _ in submitted)
