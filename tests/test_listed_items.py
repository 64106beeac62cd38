"""A Ray job list read item by item as it arrives: an item listed with the same bytes as at
the last poll keeps the record made from it then; every answer, however it is cut while it
arrives, means what the whole-answer path (typed records, or the lenient tree) makes of it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from exporter.backends.base import Listing
from exporter.backends.kit.listed import ListedItems
from exporter.backends.kit.listed_envelope import EnvelopeListing
from exporter.backends.ray import RayBackend, RayJobItem, parse_job, parse_jobs, read_jobs
from exporter.config.parse import parse_config
from exporter.errors import PollError
from exporter.http.decode import UndecodableJson, decode_json
from exporter.http.items import TooManyItems
from exporter.polling.health import ApiStats
from exporter.simulators.ray import RaySimulator

from .helpers import loopback_server
from .test_ray_parse import LENIENT_QUIRKS, TYPED_QUIRKS


def _items(run: int = 1024 * 1024) -> ListedItems:
    return ListedItems(RayJobItem, parse_job, read_jobs, run=run)


def _streamed(listed: ListedItems, body: bytes, piece: int) -> object:
    reader = listed.reader()
    for start in range(0, len(body), piece):
        reader.feed(body[start : start + piece])
    return reader.finish()


def _body(*items: object) -> bytes:
    return json.dumps(list(items)).encode()


def _job(key: str, status: str = "RUNNING", **fields: object) -> dict:
    return {"submission_id": key, "status": status, "start_time": 1700000000123, **fields}


def test_an_item_listed_as_it_was_keeps_its_record_and_a_changed_one_is_read_again() -> None:
    listed = _items()
    first = listed.listing(_body(_job("a"), _job("b"), {"no": "identity"}))
    second = listed.listing(_body(_job("a"), _job("b", "SUCCEEDED"), {"no": "identity"}))
    assert [job.key for job in second.items] == ["a", "b"]
    assert second.items[0] is first.items[0]  # same bytes: not decoded again
    assert second.items[1] is not first.items[1]
    assert (second.items[1].status, second.skipped) == ("SUCCEEDED", 1)
    assert second.items == read_jobs(_body(_job("a"), _job("b", "SUCCEEDED"), {})).items


def test_only_the_last_answer_is_remembered() -> None:
    listed = _items()
    old = listed.listing(_body(_job("a"))).items[0]
    listed.listing(_body(_job("b")))
    assert listed.listing(_body(_job("a"))).items[0] is not old


def test_an_item_listed_twice_in_one_answer_gives_one_record() -> None:
    (a, again) = _items().listing(_body(_job("a"), _job("a"))).items
    assert a is again  # the reconciler takes a key once


@pytest.mark.parametrize("body", TYPED_QUIRKS + LENIENT_QUIRKS)
def test_every_quirk_reads_as_the_whole_answer_path_reads_it(body: bytes) -> None:
    listed = _items()
    clean = _body(_job("a"), _job("b", metadata={"job_name": "n"}))
    listed.listing(clean)  # something remembered: a refused answer must not mix with it
    for _ in range(2):  # read afresh, then with its own items remembered
        assert listed.listing(body) == read_jobs(body)
    assert listed.listing(clean) == read_jobs(clean)


def test_a_changed_item_the_typed_reader_refuses_sends_the_whole_answer_the_lenient_way() -> None:
    listed = _items()
    listed.listing(_body(_job("a"), _job("b")))
    body = _body(_job("a"), _job("b", metadata="not an object"), 3)
    listing = listed.listing(body)
    assert listing == read_jobs(body)
    assert [job.key for job in listing.items] == ["a", "b"] and listing.skipped == 1


def test_a_ray_target_reuses_the_records_of_unchanged_jobs_over_http() -> None:
    with RaySimulator() as sim:
        for key in ("a", "b", "c"):
            sim.add_job(key, status="RUNNING")
        config = parse_config({"targets": [{"name": "t", "backend": "ray", "url": sim.url}]})
        backend = RayBackend(config.targets[0], ApiStats())
        try:
            first = {job.key: job for job in backend.list_jobs(deadline=_in(10)).items}
            sim.set_status("b", "SUCCEEDED")
            second = {job.key: job for job in backend.list_jobs(deadline=_in(10)).items}
        finally:
            backend.close()
    assert second["a"] is first["a"] and second["c"] is first["c"]
    assert second["b"] is not first["b"] and second["b"].status == "SUCCEEDED"


def _in(seconds: float) -> float:
    return time.monotonic() + seconds


TRICKY = _body(
    _job("a", entrypoint='python x.py "}, {" }, {', metadata={"job_name": "n}, {"}),
    _job("b", runtime_env={"pip": [{"x": 1}, {"y": [{"z": "}, {"}]}]}),
    *(_job(f"c{i}", "SUCCEEDED", end_time=1700000009000 + i) for i in range(40)),
    "not an object",
    _job("d", message='\\}, {"still a string"}, {'),
)


@pytest.mark.parametrize("piece", [1, 7, 64, 1000])
def test_an_answer_cut_while_it_arrives_reads_as_it_does_whole(piece: int) -> None:
    listed = _items(run=50)  # a run is cut off after 50 bytes: many cuts, most tried in vain
    first = _streamed(listed, TRICKY, piece)
    assert first == read_jobs(TRICKY)
    assert [job.key for job in first.items][:2] == ["a", "b"] and first.skipped == 1
    again = _streamed(listed, TRICKY, piece)  # every item remembered from the first answer
    assert again == first and all(x is y for x, y in zip(again.items, first.items, strict=True))


@pytest.mark.parametrize("body", TYPED_QUIRKS + LENIENT_QUIRKS)
@pytest.mark.parametrize("piece", [1, 16])
def test_every_quirk_cut_while_it_arrives_reads_as_it_does_whole(body: bytes, piece: int) -> None:
    body = body[:-1] + b", " + TRICKY[1:]  # the quirk first, then items to cut between
    assert _streamed(_items(run=40), body, piece) == read_jobs(body)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("piece", [7, 1000, 300_000])
def test_an_item_too_deep_is_skipped_however_the_answer_arrives(piece: int) -> None:
    """Among items cut into runs, after some are remembered: skipped and counted once, the
    others read as the whole answer reads them."""
    body = TRICKY[:-1] + b", " + DEEP + b", " + TRICKY[1:]
    listed = _items(run=50)
    listed.listing(TRICKY)
    for _ in range(2):
        listing = _streamed(listed, body, piece)
        assert listing == read_jobs(body)
        assert listing.skipped == 3 and len(listing.items) == 2 * len(read_jobs(TRICKY).items)


def test_an_item_read_alone_reads_as_among_others_at_every_depth_near_the_readers_limits() -> None:
    """Around the depth at which the raw cut, the typed and the lenient readers each stop (about
    1,000, each a little apart: Python's recursion limit, less the frames below them), an item
    the raw reader cuts out but no reader takes even alone (a byte that is not UTF-8 in it:
    json reads it) is skipped as it is among others, never the whole answer."""
    for depth in range(900, 1030):
        item = b"[" * depth + b'"\xff"' + b"]" * depth
        body = _body(_job("a"))[:-1] + b", " + item + b"]"
        assert _items().listing(body) == read_jobs(body), depth
        assert read_jobs(body).skipped == 1


def test_an_answer_that_is_no_json_fails_as_a_whole_however_it_arrives() -> None:
    body = TRICKY[:-1] + b', {"submission_id": "e"'  # cut short: the last run never closes
    with pytest.raises(UndecodableJson):
        _streamed(_items(run=50), body, 16)


def test_items_read_before_a_poll_failed_part_way_are_not_decoded_again_over_http() -> None:
    """A list too large to read within one poll's deadline is read over several polls, never
    started over: here the first answer is cut off after 60% of its bytes."""
    body = _body(
        *(_job(f"j{i:05}", entrypoint="python train.py " + "x" * 300) for i in range(5000))
    )
    with _serving(iter([(body[: len(body) * 6 // 10], len(body)), (body, len(body))])) as url:
        config = parse_config({"targets": [{"name": "t", "backend": "ray", "url": url}]})
        backend = RayBackend(config.targets[0], ApiStats())
        parsed: list[str] = []

        def counted(item: object) -> object:
            job = parse_job(item)
            parsed.append(job.key)
            return job

        backend._jobs.parse_item = counted  # counts the items decoded; parses as before
        try:
            with pytest.raises(PollError) as failed:
                backend.list_jobs(deadline=_in(10))
            assert failed.value.reason == "connection"
            read_before = len(parsed)
            assert 0 < read_before < 5000  # runs of whole items were read as they arrived
            listing = backend.list_jobs(deadline=_in(10))
        finally:
            backend.close()
    assert listing.items == read_jobs(body).items and len(listing.items) == 5000
    assert len(parsed) == 5000  # the second poll decoded only the items the first did not reach
    assert sorted(parsed) == [f"j{i:05}" for i in range(5000)]


def test_answers_cut_short_poll_after_poll_keep_at_most_one_answer_of_their_records() -> None:
    """A backend that sends new items at every poll and cuts each answer short: what is kept of
    the unfinished answers is one answer's records, not every one's (it grew by an answer per
    failed poll, for as long as the polls kept failing)."""
    polls, jobs = 6, 2000
    bodies = (
        _body(*(_job(f"p{poll}-{i:05}", entrypoint="x" * 600) for i in range(jobs)))
        for poll in range(polls)
    )
    with _serving((body[: len(body) * 9 // 10], len(body)) for body in bodies) as url:
        config = parse_config({"targets": [{"name": "t", "backend": "ray", "url": url}]})
        backend = RayBackend(config.targets[0], ApiStats())
        kept = []
        try:
            for _ in range(polls):
                with pytest.raises(PollError):
                    backend.list_jobs(deadline=_in(10))
                kept.append(len(backend._jobs.last) + len(backend._jobs.partial))
        finally:
            backend.close()
    assert 0 < kept[0] < jobs  # each poll read most of its answer
    assert max(kept) <= jobs, kept


@contextlib.contextmanager
def _serving(answers: Iterator[tuple[bytes, int]]) -> Iterator[str]:
    """A loopback server answering each request with the next (bytes, Content-Length): a
    length over the bytes sent is an answer cut short. Yields its base URL."""

    class Answers(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            sent, length = next(answers)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(sent)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    with loopback_server(Answers) as url:
        yield url


# --- a list held by a key of a top-level object (an envelope), and version markers ---


def _read_envelope(body: bytes) -> Listing:
    """The whole-answer (lenient) reader of an answer whose items are held by "items"."""
    payload = decode_json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise PollError("parse", "no items array")
    return parse_jobs(payload["items"])


def _enveloped(run: int = 1024 * 1024, version: tuple[str, str] | None = None) -> ListedItems:
    return ListedItems(
        RayJobItem, parse_job, _read_envelope, run, envelope="items", version=version
    )


def _counting(listed: ListedItems) -> list[str]:
    """The keys of the items ``listed`` decodes from now on (it parses as before)."""
    parsed: list[str] = []

    def counted(item: object) -> object:
        job = parse_job(item)
        parsed.append(job.key if job else "")
        return job

    listed.parse_item = counted
    return parsed


def _k8s(*items: object, key: str = "items", **rest: object) -> bytes:
    head = {"apiVersion": "v1", "kind": "JobList", "metadata": {"continue": "c2", "items": [1]}}
    return json.dumps({**head, **rest, key: list(items), "total": len(items)}).encode()


def _emr(*items: object) -> bytes:
    return json.dumps({"items": list(items), "nextToken": 't]"items":[', "totalCount": 9}).encode()


MANY = [_job(f"m{i:03}", entrypoint="x" * 30) for i in range(60)]


@pytest.mark.parametrize("shape", [_k8s, _emr])
@pytest.mark.parametrize("piece", [1, 7, 64, 100_000])
def test_an_envelope_reads_its_items_as_a_bare_array_and_gives_back_its_other_members(
    shape: object, piece: int
) -> None:
    body = shape(*MANY)
    listed = _enveloped(run=200)  # many runs cut while it arrives
    first = _streamed(listed, body, piece)
    assert isinstance(first, EnvelopeListing)
    assert (first.items, first.skipped) == (read_jobs(_body(*MANY)).items, 0)
    rest = json.loads(body)
    del rest["items"]
    assert first.envelope == rest and len(rest) >= 2
    parsed = _counting(listed)
    changed = [*MANY[:30], _job("m030", "SUCCEEDED"), *MANY[31:]]
    second = _streamed(listed, shape(*changed), piece)
    assert parsed == ["m030"]  # the unchanged items were not decoded again
    assert [job.status for job in second.items][29:32] == ["RUNNING", "SUCCEEDED", "RUNNING"]
    assert all(x is y for x, y in zip(first.items[:30], second.items[:30], strict=True))


HOSTILE = [
    _k8s(_job("a"), _job("b")),  # "items" nested in metadata, before
    b'{"items": ' + _body(_job("a")) + b', "x": 1, "items": ' + _body(_job("b")) + b"}",
    b'{"items": {"submission_id": "a"}}',  # no array
    b'{"items": null, "items": ' + _body(_job("c")) + b"}",  # not an array, then one
    b'{"metadata": {"items": ' + _body(_job("a")) + b"}}",  # only nested deeper
    _body(_job("a")),  # an array, no envelope
    b'{"kind": "items", "note": "\\"items\\": [", "items": '
    + _body(_job("a]"), _job("b", message='], "items": [{"x": 1}]'))
    + b', "z": "]"}',
    b'{"it\\u0065ms": ' + _body(_job("a")) + b"}",  # the key escaped
    b'{"pad": "' + b"x" * 70_000 + b'", "items": ' + _body(_job("a")) + b"}",  # past the head
    b'{"items": ' + _body(*MANY)[:-1] + b', {"submission_id": "n", "start_time": NaN}]}',
    b'{"items": ' + _body(*MANY) + b', "items": ' + _body(_job("last")) + b"}",  # again, late
    b'{"items": []}',
    b'  {"items"  :  ' + _body(_job("a")) + b"  }  ",
]


@pytest.mark.parametrize("body", HOSTILE)
@pytest.mark.parametrize("piece", [3, 1 << 20])
def test_a_hostile_envelope_reads_as_the_lenient_path_reads_it(body: bytes, piece: int) -> None:
    listed = _enveloped(run=100)
    listed.listing(_k8s(*MANY[:5]))  # something remembered: it must not mix with the answer
    try:
        expected = _read_envelope(body)
    except PollError:
        with pytest.raises(PollError):
            _streamed(listed, body, piece)
        return
    for _ in range(2):
        listing = _streamed(listed, body, piece)
        assert (listing.items, listing.skipped) == (expected.items, expected.skipped)
        rest = json.loads(body.replace(b"NaN", b"0"))
        assert listing.envelope == {k: v for k, v in rest.items() if k != "items"}


def test_an_envelope_cut_short_fails_as_no_json() -> None:
    with pytest.raises(UndecodableJson):
        _streamed(_enveloped(run=100), _emr(*MANY)[:-40], 16)


@pytest.mark.parametrize("envelope", [False, True])
def test_an_item_whose_version_marker_is_unchanged_keeps_its_record_whatever_its_bytes(
    envelope: bool,
) -> None:
    version = ("submission_id", "metadata.rv")
    read, shape = (_read_envelope, _emr) if envelope else (read_jobs, _body)
    listed = ListedItems(
        RayJobItem, parse_job, read, envelope="items" if envelope else None, version=version
    )
    jobs = [_job(k, metadata={"rv": "1"}) for k in "abc"] + [_job("d")]
    first = listed.listing(shape(*jobs))
    assert listed.listing(shape(*jobs)).items == first.items  # bytes unchanged: hashed
    parsed = _counting(listed)
    respelled = [dict(reversed(job.items())) for job in jobs]  # the same, in another order
    respelled[1] = _job("b", "SUCCEEDED", metadata={"rv": "2"})  # a new version
    second = listed.listing(shape(*respelled))
    assert sorted(parsed) == ["b", "d"]  # d has no marker: decoded as a changed item
    assert second.items[0] is first.items[0] and second.items[2] is first.items[2]
    assert second.items[1].status == "SUCCEEDED" and second.items[3] == first.items[3]


def test_an_envelope_over_the_item_limit_keeps_nothing_and_an_abandoned_one_keeps_its_runs() -> (
    None
):
    listed = _enveloped(run=200)
    reader = listed.reader(max_items=50)
    with pytest.raises(TooManyItems):
        for start in range(0, len(body := _k8s(*MANY)), 64):
            reader.feed(body[start : start + 64])
        reader.finish()
    assert listed.partial == {} and listed.last == {}
    reader = listed.reader()
    reader.feed(body[: len(body) // 2])
    reader.abandon()  # its poll failed part-way
    assert 0 < len(listed.partial) < len(MANY)
    parsed = _counting(listed)
    assert len(listed.listing(body).items) == len(MANY)
    assert 0 < len(parsed) < len(MANY)  # only what the abandoned answer did not reach
