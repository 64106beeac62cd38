"""Memory of reading one answer: at most 4 times ``max_response_bytes``, whatever its items.

An answer of minimal items (an id each) at the byte cap used to cost 13-21 times its bytes:
every item became a typed record and a ``Job`` of some 300 bytes. An answer may now list at
most ``max_response_bytes // ITEM_FLOOR`` items (``exporter/http/items.py``); over that,
the poll fails with ``reason="too_large"``.

Each answer is served over HTTP on 127.0.0.1 by a small server in this process and read by
the backend in a fresh process (``python -m tests.test_answer_memory KIND URL MAX_BYTES``),
which lists an empty answer first (what a first read sets up), notes its RSS, resets its
peak (``/proc/self/clear_refs``), lists the jobs once and reports the peak: what reading the
answer took, from the socket to the ``Job`` records.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.answer_memory import serving, target
from exporter.app import Exporter
from exporter.config.parse import parse_config

from .helpers import RAY_TESTDATA, ROOT, value, vendor_example

KINDS = ("ray", "emr_serverless", "modelarts_lite")
CAP = 10 * 2**20  # max_response_bytes of these tests: small, so that each read is quick
MAX_RATIO = 4.0  # peak RSS of a read per answer byte, at most
ID_KEY = {"ray": "submission_id", "emr_serverless": "submissionId", "modelarts_lite": "id"}
# every field each backend reads, short values: the most a record holds per answer byte
DENSE = {
    "ray": {
        "job_id": "j",
        "status": "RUNNING",
        "type": "SUBMISSION",
        "start_time": 1700000000,
        "end_time": 1700000001,
        "error_type": "E",
        "entrypoint": "python",
        "metadata": {"job_name": "n", "owner": "o"},
    },
    "emr_serverless": {
        "status": "Running",
        "resourceQueue": "q",
        "cuHours": 1.5,
        "name": "n",
        "submitTime": 1700000000000,
        "startTime": 1700000000000,
        "endTime": 1700000000001,
        "clusterState": "Running",
        "creatorName": "c",
    },
    "modelarts_lite": {
        "status": "PROCESSING",
        "abnormal_count": 0,
        "update_at": 1700000000000,
        "name": "n",
        "type": "COMMON",
        "create_at": 1700000000000,
    },
}


def real_items(kind: str) -> list[dict]:
    """Items as the APIs send them: Ray's from a real head, the vendors' documented ones."""
    if kind == "ray":
        return json.loads((RAY_TESTDATA / "jobs.json").read_text())
    if kind == "emr_serverless":
        return vendor_example("emr-serverless-ListRayJob.json")["rayJobs"]
    return vendor_example("modelarts-lite-list-jobs.json")["data"]


def answer(kind: str, size: int, item: str, item_bytes: int = 0) -> tuple[bytes, int]:
    """(an answer of ``kind`` of at most ``size`` bytes, the items it lists), of ``item``
    items: "minimal" (an id only) or "dense" (``DENSE``, padded to ``item_bytes`` each, comma
    included), in compact JSON; or "real" (``real_items`` in turn, each with an id of its own
    as long as the original), as a Python server writes JSON."""
    key, templates = ID_KEY[kind], real_items(kind)
    compact = item != "real"
    comma, colon = (",", ":") if compact else (", ", ": ")
    head = {"ray": "[", "emr_serverless": '{"rayJobs":['}.get(kind, '{"data":[')
    parts, used = [], len(head) + 100
    while True:
        job_id = f"{len(parts):08x}"
        if item == "minimal":
            fields: dict[str, Any] = {key: job_id}
        elif item == "dense":
            fields = {key: job_id, **DENSE[kind], "p": ""}
            fields["p"] = "p" * (item_bytes - len(json.dumps(fields, separators=(",", ":"))) - 1)
        else:
            fields = copy.deepcopy(templates[len(parts) % len(templates)])
            fields[key] = str(fields.get(key) or "raysubmit_0123456789abcdef")[:-8] + job_id
        text = json.dumps(fields, separators=(comma, colon))
        if used + len(text) + len(comma) > size:
            break
        parts.append(text)
        used += len(text) + len(comma)
    count = len(parts)
    body = head + comma.join(parts) + "]"
    if kind == "emr_serverless":
        body += f'{comma}"totalCount"{colon}{count}}}'
    elif kind == "modelarts_lite":
        body += f'{comma}"pages"{colon}1{comma}"size"{colon}{count}{comma}"total"{colon}{count}}}'
    return body.encode(), count


def _status(field: str) -> int:
    lines = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(f"{field}:"))


def read_once(kind: str, url: str, max_response_bytes: int) -> dict[str, Any]:
    """In a fresh process: the jobs of ``url`` listed once; RSS before, peak during."""
    from exporter.backends import create_backend
    from exporter.errors import PollError
    from exporter.polling.health import ApiStats

    config = parse_config(
        {
            "targets": [
                target(kind, f"{url}/warm-up", max_response_bytes, "warm-up"),
                target(kind, url, max_response_bytes, "t"),
            ]
        }
    )
    warm_up, backend = (create_backend(each, ApiStats()) for each in config.targets)
    warm_up.list_jobs(time.monotonic() + 60)
    warm_up.close()
    gc.collect()
    result: dict[str, Any] = {"before": _status("VmRSS")}
    with contextlib.suppress(OSError):  # else the peak since start: at least the read's
        Path("/proc/self/clear_refs").write_text("5")
    try:
        result["listed"] = len(backend.list_jobs(time.monotonic() + 120).items)
    except PollError as err:
        result["error"] = [err.reason, str(err)]
    result["peak"] = _status("VmHWM")
    backend.close()
    return result


def measured(kind: str, body: bytes, count: int, max_response_bytes: int = CAP) -> dict:
    """``body`` served and read once in a fresh process; what it reports, with the peak
    increase and its ratio to the answer's bytes, printed."""
    with serving(kind, body, count) as url:
        done = subprocess.run(
            [sys.executable, "-m", "tests.test_answer_memory", kind, url, str(max_response_bytes)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=240,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    result["increase"] = result["peak"] - result["before"]
    result["ratio"] = result["increase"] / len(body)
    outcome = result["error"][0] if "error" in result else f"{result['listed']:,} listed"
    print(
        f"{kind}: answer {len(body):,} bytes, {count:,} items ({len(body) / count:.0f} B each), "
        f"max_response_bytes {max_response_bytes:,}: {outcome}; peak RSS increase "
        f"{result['increase']:,} bytes, {result['ratio']:.2f}x the answer"
    )
    return result


# --- memory, over HTTP, in a fresh process ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_of_minimal_items_at_the_cap_costs_at_most_4x_its_bytes(kind: str) -> None:
    body, count = answer(kind, CAP, "minimal")
    result = measured(kind, body, count)
    assert result["ratio"] <= MAX_RATIO
    from exporter.http.items import item_limit

    reason, message = result["error"]
    limit = item_limit(CAP)
    assert reason == "too_large"
    assert f"over the limit of {limit:,}" in message
    assert "raise max_response_bytes" in message
    if kind == "ray":  # read as it arrives: stopped at the first run past the limit
        assert "at least" in message
    else:  # counted whole before it is read
        assert f"lists {count:,} items" in message
    assert "{" not in message and ID_KEY[kind] not in message  # no content of the answer


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_of_real_items_at_the_cap_lists_every_job(kind: str) -> None:
    body, count = answer(kind, CAP, "real")
    result = measured(kind, body, count)
    assert result.get("listed") == count, result.get("error")
    assert result["ratio"] <= MAX_RATIO


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_most_items_an_answer_may_list_cost_at_most_4x_its_bytes(kind: str) -> None:
    """Items of ``ITEM_FLOOR`` bytes holding every field the backend reads, in short values:
    as many records, each as large, as an answer that is read can make (EMR's, of ten fields,
    are the largest). At 16 MiB, where the HTTP client's read buffers (~6 MiB whatever the
    answer) weigh less; the ratio is the same at 32 and 64 MiB."""
    from exporter.http.items import ITEM_FLOOR, item_limit

    cap = 16 * 2**20
    body, count = answer(kind, cap, "dense", ITEM_FLOOR)
    assert count >= item_limit(cap) - 1  # the answer's brackets take one item's bytes
    result = measured(kind, body, count, cap)
    assert result.get("listed") == count, result.get("error")
    assert result["ratio"] <= MAX_RATIO


def generic(body: bytes) -> bytes:
    """``body`` with ``"nan":NaN`` in each item: JSON a Python server writes, which only the
    generic reader takes (the typed readers refuse it, read or not)."""
    return re.sub(rb"(?<!\{)\}", b',"nan":NaN}', body)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_only_the_generic_reader_takes_costs_at_most_4x_the_cap(kind: str) -> None:
    """Real items holding NaN: at 30% of the cap they are read, and whole at the cap they are
    refused before they are built (reading them generically would pass 4 times the cap);
    either way the read peaks below 4 times ``max_response_bytes``."""
    for share, listed in ((0.3, True), (1.0, False)):
        body, count = answer(kind, int(CAP * share * 0.95), "real")
        result = measured(kind, generic(body), count)
        assert result["increase"] <= MAX_RATIO * CAP, share
        if listed:
            assert result.get("listed") == count, result.get("error")
        else:
            reason, message = result["error"]
            assert reason == "too_large" and "to read generically" in message, message
            assert "raise max_response_bytes" in message
            assert "{" not in message and ID_KEY[kind] not in message  # no content of it


NESTING = {"ray": ("metadata", "owner"), "emr_serverless": ("name",), "modelarts_lite": ("name",)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_large_value_nested_where_a_field_is_read_costs_at_most_4x_the_cap(kind: str) -> None:
    """One item among good ones holds an array of numbers filling the answer where the
    exporter reads a name (Ray: a metadata value): the typed reader refuses it, and reading
    it generically would pass 4 times the cap, so the poll fails before it is built."""
    good, count = answer(kind, 64 * 1024, "real")
    numbers = ",".join(str(1000 + n % 9000) for n in range((CAP - len(good)) // 5 - 100))
    *path, field = NESTING[kind]
    opening = "".join(f'"{key}":{{' for key in path)
    item = f'{{"{ID_KEY[kind]}":"nested",{opening}"{field}":[{numbers}]{"}" * len(path)}}}'
    head = {"ray": b"[", "emr_serverless": b'{"rayJobs":['}.get(kind, b'{"data":[')
    body = good.replace(head, head + item.encode() + b",", 1)
    assert CAP * 0.95 < len(body) <= CAP
    result = measured(kind, body, count + 1)
    assert result["increase"] <= MAX_RATIO * CAP
    reason, message = result["error"]
    assert reason == "too_large" and "to read generically" in message, message


@pytest.mark.parametrize(
    "shape",
    [
        lambda i: '{"a":1}',
        lambda i: f'{{"k{i}":{i + 1000}}}',  # distinct keys: the costliest value measured
        lambda i: '{"a":{"a":{"a":{}}}}',
        lambda i: f'"{i % 97:02d}"',
        lambda i: "[1]",
        lambda i: f'["{i:08x}"]',
        lambda i: "1.5",
        lambda i: '{"n":"\u00e9\u00e9","v":NaN}',
        lambda i: f'"é{i}"',  # text stored two bytes a character
        lambda i: f'"😀{i}"',  # four bytes a character
    ],
)
def test_the_cost_of_a_generic_read_is_bounded_before_it_starts(shape) -> None:
    """``generic_read_cost`` is at least what ``decode_json`` allocates, with the body."""
    import tracemalloc

    from exporter.http.decode import decode_json
    from exporter.http.items import generic_read_cost

    body = ("[" + ",".join(shape(i) for i in range(20_000)) + ",NaN]").encode()
    tracemalloc.start()
    try:
        decode_json(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak + len(body) <= generic_read_cost(body)


def test_a_generic_read_over_the_budget_is_refused_and_the_rest_is_read() -> None:
    from exporter.http.decode import decode_json
    from exporter.http.items import TooCostly, generic_read_budget

    small = b'[{"a":NaN}]'
    large = b"[" + b",".join([b'{"a":NaN}'] * 10_000) + b"]"
    with generic_read_budget(max_response_bytes=len(large)):
        assert decode_json(small) == [{"a": None}]
        with pytest.raises(TooCostly) as refused:
            decode_json(large)
    assert refused.value.size == len(large) and refused.value.cost > 4 * len(large)
    assert len(decode_json(large)) == 10_000  # no budget: a reader used alone


# --- the poll ---------------------------------------------------------------------------------


def test_an_answer_over_the_item_limit_fails_the_poll_as_too_large(caplog) -> None:
    """Counted, logged once at warning, its job series kept; an answer under the limit after
    it is read as usual."""
    from exporter.http.items import item_limit

    small = 64 * 1024
    body, count = answer("emr_serverless", small, "minimal")
    assert count > item_limit(small)
    with serving("emr_serverless", body, count) as url:
        exporter = Exporter(parse_config({"targets": [target("emr_serverless", url, small, "t")]}))
        try:
            poller = exporter.pollers[0]
            with caplog.at_level(logging.WARNING, logger="exporter.polling.poller"):
                assert not poller.poll("jobs")
            metrics = exporter.exposition.body()
        finally:
            exporter.close()
    assert poller.health["jobs"].last_reason == "too_large"
    assert value(metrics, "jobfleet_poll_errors_total", target="t", reason="too_large") == 1
    assert value(metrics, "jobfleet_target_up", target="t", resource="jobs") == 0
    (line,) = [r.getMessage() for r in caplog.records if "too_large" in r.getMessage()]
    assert line.startswith("target t jobs: poll failed (too_large): ListRayJob: answer lists")
    assert "raise max_response_bytes" in line


# --- counting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "count", "counted"),
    [
        (b'[{"a": 1}, {}, {"b": [1, 2, {}]}]', 3, True),  # what an item holds is not counted
        (b'{"rayJobs": [{}, {}], "totalCount": 2}', 2, True),
        (b'{"data": {"result": {"total": 3, "result": [{}, {}, {}]}}}', 3, True),  # Ray nodes
        (b'[{"a": NaN}, {"b": -Infinity}, {}]', 3, True),  # a Python server's JSON
        (b"[null, true, {}, {}]", 2, True),  # members that cost nothing are not counted
        (b'[1, 2, "three", {}]', 4, False),  # what the exact count does not read: its commas
        (b"[{}, " + b"[" * 2000 + b"]" * 2000 + b"]", 2, False),  # deeper than it reads
        (b'[{"a": 1}, {"b": 2', 2, False),  # no JSON
    ],
)
def test_the_items_of_an_answer_are_counted_before_it_is_read(body, count, counted) -> None:
    from exporter.http.items import TooManyItems, check_items

    check_items(body, count)
    with pytest.raises(TooManyItems) as refused:
        check_items(body, count - 1)
    assert (refused.value.count, refused.value.counted) == (count, counted)
    with pytest.raises(TooManyItems):
        check_items(body, count, before=1)  # items of the same answer read before


def test_an_answer_read_as_it_arrives_stops_at_the_limit_and_keeps_nothing() -> None:
    from exporter.backends.kit.listed import ListedItems
    from exporter.backends.ray import RayJobItem, parse_job, read_jobs
    from exporter.http.items import TooManyItems

    listed = ListedItems(RayJobItem, parse_job, read_jobs, run=64)
    jobs = [{"submission_id": f"job-{index}", "status": "RUNNING"} for index in range(40)]
    assert len(listed.listing(json.dumps(jobs[:3]).encode()).items) == 3
    reader = listed.reader(20)
    body = json.dumps(jobs).encode()
    with pytest.raises(TooManyItems) as refused:
        for start in range(0, len(body), 50):
            reader.feed(body[start : start + 50])
    reader.abandon()  # as the HTTP client does when a read fails part-way
    assert refused.value.at_least and 20 < refused.value.count < 40
    assert listed.partial == {}  # nothing of the refused answer is kept for the next poll
    exactly = listed.reader(20)
    exactly.feed(json.dumps(jobs[:20]).encode())
    assert len(exactly.finish().items) == 20
    whole = listed.reader(20)  # not an array: read whole, counted first
    whole.feed(json.dumps({"jobs": jobs}).encode())
    with pytest.raises(TooManyItems):
        whole.finish()


if __name__ == "__main__":
    kind, url, max_bytes = sys.argv[1:4]
    print(json.dumps(read_once(kind, url, int(max_bytes))))
