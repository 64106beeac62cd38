"""A Ray job list read item by item: an item listed with the same bytes as at the last poll
keeps the record made from it then; every other answer means what the whole-answer path
(typed records, or the lenient tree) makes of it."""

from __future__ import annotations

import json
import time

import pytest

from exporter.backends.listed import ListedItems
from exporter.backends.ray import RayBackend, RayJobItem, parse_job, read_jobs
from exporter.config import parse_config
from exporter.simulators.ray import RaySimulator
from exporter.status import ApiStats

from .test_ray_parse import LENIENT_QUIRKS, TYPED_QUIRKS


def _items() -> ListedItems:
    return ListedItems(RayJobItem, parse_job, read_jobs)


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
