"""The shared listing strategies of the backend kit against a token-paged list served on
loopback: the token walk in both parameter forms, and the incremental windowed list over it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from exporter.backends.kit.token_walk import (
    CONTINUE,
    MAX_REREADS,
    MAX_RESTARTS,
    NEXT_TOKEN,
    TokenExpired,
    TokenParams,
    expired,
    walk_tokens,
)
from exporter.backends.kit.walk import Page, TokenPage, Walk
from exporter.backends.kit.windowed import WindowedList
from exporter.errors import PollError
from exporter.http.client import ApiClient
from exporter.model import Job, Phase
from exporter.polling.health import ApiStats
from exporter.simulators.base import JsonHandler, Simulator

T0 = 1_800_000_000.0
RUNS = "/api/v1/jobRuns"  # pages by nextToken/maxResults, offsets as tokens, with a total
KUBE = "/apis/batch/v1/jobs"  # pages by continue/limit, the last key as token, no total
PHASES = {"Running": Phase.RUNNING, "Succeeded": Phase.SUCCEEDED}


class TokenListSimulator(Simulator):
    """A job list paged by token, newest first, that can change between two pages."""

    def __init__(self, clock: Callable[[], float], *, with_total: bool = True) -> None:
        super().__init__()
        self.clock = clock
        self.with_total = with_total
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.between_pages: list[Callable[[], None]] = []  # one run before each later page
        self.expire = 0  # the next requests with a continue token answered 410 Gone
        self.loop = False  # every answer names the second page as the next

    def add(self, key: str, submit: float, state: str = "Succeeded", visible: float = 0) -> str:
        self.jobs[key] = {"id": key, "submitTime": int(submit * 1000), "state": state}
        self.jobs[key]["visibleAt"] = visible
        return key

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(JsonHandler):
            server_clock = staticmethod(sim.clock)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                sim.requests.append((url.path, query))
                if url.path == KUBE and "continue" in query and sim.expire:
                    sim.expire -= 1
                    self.reply(410, {"kind": "Status", "reason": "Expired", "code": 410})
                    return
                if sim.between_pages and ("continue" in query or "nextToken" in query):
                    sim.between_pages.pop(0)()
                self.reply(200, sim.answer(url.path, query))

        return Handler

    def _listed(self, query: dict[str, str]) -> list[dict[str, Any]]:
        low, high = 0, 1 << 62
        if "startTime" in query:
            span = json.loads(query["startTime"])
            low, high = span["startTime"], span["endTime"]
        return sorted(
            (
                {k: v for k, v in job.items() if k != "visibleAt"}
                for job in self.jobs.values()
                if job["visibleAt"] <= self.clock()
                and low <= job["submitTime"] <= high
                and query.get("jobRunId", job["id"]) == job["id"]
            ),
            key=lambda job: (-job["submitTime"], job["id"]),
        )

    def answer(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        listed = self._listed(query)
        if path == RUNS:
            size, start = int(query["maxResults"]), int(query.get("nextToken", 0))
            items, after = listed[start : start + size], start + size
            answer: dict[str, Any] = {"jobRuns": items}
            if after < len(listed) or self.loop:
                answer["nextToken"] = str(size if self.loop else after)
            return answer | ({"totalCount": len(listed)} if self.with_total else {})
        size, token = int(query["limit"]), query.get("continue")
        after = tuple(json.loads(token)) if token else ()
        rest = [j for j in listed if (-j["submitTime"], j["id"]) > after]
        if len(rest) <= size:
            return {"items": rest, "metadata": {}}
        last = rest[size - 1]
        return {
            "items": rest[:size],
            "metadata": {"continue": json.dumps([-last["submitTime"], last["id"]])},
        }


def job(item: Mapping[str, Any]) -> Job:
    state = item["state"]
    return Job(item["id"], item["id"], state, PHASES[state], submit_time=item["submitTime"] / 1000)


class Reader:
    """A backend's side of a token-paged list: its requests, read with the shared client."""

    def __init__(
        self, api: ApiClient, path: str, *, page_size: int = 2, max_pages: int = 50
    ) -> None:
        self.api, self.path = api, path
        self.form: TokenParams = NEXT_TOKEN if path == RUNS else CONTINUE
        self.name = f"target tokens: {path}"
        self.page_size, self.max_pages = page_size, max_pages
        self.deadlines: list[float] = []

    def read(self, params: Mapping[str, Any], token: str | None, deadline: float) -> TokenPage:
        self.deadlines.append(deadline)
        query = {**params, **self.form.query(token, self.page_size)}
        try:
            payload, date = self.api.get_json_dated(
                self.path, "List", deadline=deadline, params=query
            )
        except PollError as err:
            if expired(err, token):
                raise TokenExpired(str(err)) from err
            raise
        items = payload.get("jobRuns", payload.get("items"))
        after = payload.get("nextToken") or payload.get("metadata", {}).get("continue")
        jobs = [job(item) for item in items]
        return TokenPage(jobs, len(items), payload.get("totalCount"), 0, date, next_token=after)

    def window(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        return {"startTime": json.dumps({"startTime": start_ms, "endTime": end_ms})}

    def lookup(self, key: str, deadline: float) -> Page:
        return self.read({"jobRunId": key}, None, deadline)

    def walk(self, params: Mapping[str, Any], deadline: float) -> Walk:
        return walk_tokens(self, params, deadline)


@pytest.fixture
def now() -> list[float]:
    return [T0]


@pytest.fixture
def sim(now: list[float]) -> Iterator[TokenListSimulator]:
    with TokenListSimulator(lambda: now[0]) as server:
        yield server


@pytest.fixture
def api(sim: TokenListSimulator) -> Iterator[ApiClient]:
    client = ApiClient(sim.url, ApiStats(), max_response_bytes=1 << 20)
    yield client
    client.close()


def seven(sim: TokenListSimulator) -> list[str]:
    return [sim.add(f"j{i}", T0 - 100 * i) for i in range(7)]


def walk(api: ApiClient, path: str, **settings: int) -> Walk:
    return Reader(api, path, **settings).walk({}, time.monotonic() + 30)


def page_tokens(sim: TokenListSimulator, name: str) -> list[str | None]:
    return [query.get(name) for _, query in sim.requests]


# --- the token walk ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "token", "size"), [(RUNS, "nextToken", "maxResults"), (KUBE, "continue", "limit")]
)
def test_a_walk_follows_tokens_to_the_last_page(sim, api, path, token, size) -> None:
    keys = seven(sim)
    found = walk(api, path)
    assert list(found.found) == keys and found.complete and found.as_of == T0
    assert len(sim.requests) == 4 and page_tokens(sim, token)[0] is None
    assert all(token for token in page_tokens(sim, token)[1:])
    assert {query[size] for _, query in sim.requests} == {"2"}


def test_the_page_cap_stops_a_walk_incomplete_and_says_so_once(sim, api, caplog) -> None:
    seven(sim)
    with caplog.at_level(logging.WARNING):
        found = walk(api, RUNS, max_pages=2)
    assert (found.complete, found.capped, len(found.found), len(sim.requests)) == (
        False,
        True,
        4,
        2,
    )
    (record,) = [r for r in caplog.records if "page cap" in r.getMessage()]
    assert record.getMessage() == f"target tokens: {RUNS} stopped at the page cap (2 pages)"


def test_a_token_given_twice_stops_the_walk(sim, api) -> None:
    seven(sim)
    sim.loop = True
    found = walk(api, RUNS)
    assert (found.complete, found.capped, len(sim.requests)) == (False, False, 2)


def test_an_expired_continue_token_begins_the_walk_again(sim, api) -> None:
    keys = seven(sim)
    sim.expire = 1
    found = walk(api, KUBE)
    assert list(found.found) == keys and found.complete and not found.unstable
    assert page_tokens(sim, "continue").count(None) == 2  # the first page, twice
    assert len(sim.requests) == 1 + 1 + 4


def test_tokens_that_keep_expiring_give_up_unstable(sim, api) -> None:
    seven(sim)
    sim.expire = 100
    found = walk(api, KUBE)
    assert (found.complete, found.unstable) == (False, True)
    assert len(sim.requests) == 2 * (MAX_RESTARTS + 1)
    assert sim.expire == 100 - (MAX_RESTARTS + 1)


def test_a_job_deleted_between_pages_under_an_offset_token_is_read_again(sim, api) -> None:
    keys = seven(sim)
    sim.between_pages = [lambda: sim.jobs.pop("j0")]  # j2 moves onto the page already read
    found = walk(api, RUNS)
    assert set(found.found) >= set(keys) - {"j0"} and found.complete and not found.unstable
    assert page_tokens(sim, "nextToken").count(None) == 2


def test_a_job_inserted_between_pages_is_found_by_the_read_again(sim, api) -> None:
    keys = seven(sim)
    sim.between_pages = [lambda: sim.add("new", T0 + 5)]
    found = walk(api, RUNS)
    assert set(found.found) == {*keys, "new"} and found.complete


def test_a_list_that_keeps_shrinking_leaves_the_walk_unstable(sim, api) -> None:
    for i in range(40):
        sim.add(f"j{i:02d}", T0 - i)
    sim.between_pages = [lambda i=i: sim.jobs.pop(f"j{i:02d}") for i in range(40)]
    found = walk(api, RUNS, page_size=4)
    assert (found.complete, found.unstable) == (False, True)
    assert page_tokens(sim, "nextToken").count(None) == 1 + MAX_REREADS


def test_without_a_total_a_keyed_token_loses_nothing_to_changes(sim, api) -> None:
    keys = seven(sim)
    sim.between_pages = [lambda: sim.jobs.pop("j0"), lambda: sim.add("new", T0 + 5)]
    found = walk(api, KUBE)
    assert set(found.found) >= set(keys) and found.complete
    assert page_tokens(sim, "continue").count(None) == 1  # no total: nothing to read again


def test_the_deadline_reaches_every_read(sim, api) -> None:
    seven(sim)
    sim.expire = 1
    reader, deadline = Reader(api, KUBE), time.monotonic() + 30
    assert reader.walk({}, deadline).complete
    assert reader.deadlines == [deadline] * len(sim.requests) and len(sim.requests) == 6
    with pytest.raises(PollError) as failed:
        reader.walk({}, time.monotonic() - 1)
    assert failed.value.reason == "timeout" and len(sim.requests) == 6


# --- the windowed list over a token-paged API ----------------------------------------------


def windowed(api: ApiClient, now: list[float]) -> WindowedList:
    return WindowedList(
        Reader(api, RUNS), lambda: now[0], full_list_interval=3600.0, poll_interval=30.0
    )


def poll(jobs: WindowedList) -> dict[str, Job]:
    listing = jobs.list_jobs(time.monotonic() + 30)
    assert listing.complete
    return {item.key: item for item in listing.items}


def test_a_job_listed_late_widens_the_window(sim, api, now, caplog) -> None:
    sim.add("old", T0 - 60)
    jobs = windowed(api, now)
    poll(jobs)
    now[0] += 30
    sim.add("late", T0 - 1200)  # listed 20 minutes after its submission
    assert "late" not in poll(jobs)  # before the window
    now[0] += 3600
    with caplog.at_level(logging.WARNING):
        assert "late" in poll(jobs)  # the full walk
    assert f"target tokens: {RUNS}: 1 jobs were listed more than 600s" in caplog.text
    sim.add("fresh", now[0])
    now[0] += 30
    assert "fresh" in poll(jobs)  # the watermark moves on
    sim.add("late-2", now[0] - 1200)
    now[0] += 30
    assert "late-2" in poll(jobs)  # the window looks back far enough now
    assert all("startTime" in query for _, query in sim.requests[-2:])


def test_a_job_deleted_from_its_window_leaves_the_list(sim, api, now) -> None:
    for i in range(3):
        sim.add(f"done-{i}", T0 - 300 - i)
    sim.add("running", T0 - 30, "Running")
    jobs = windowed(api, now)
    assert poll(jobs)["running"].phase is Phase.RUNNING
    del sim.jobs["running"]
    now[0] += 30
    assert set(poll(jobs)) == {"done-0", "done-1", "done-2"}
    assert "startTime" in sim.requests[-1][1]  # seen by the window, not by a walk


def test_an_old_active_job_is_looked_up_by_id(sim, api, now) -> None:
    sim.add("ancient", T0 - 86400, "Running")
    for i in range(10):
        sim.add(f"done-{i}", T0 - 7200 + 600 * i)
    jobs = windowed(api, now)
    assert poll(jobs)["ancient"].phase is Phase.RUNNING
    sim.jobs["ancient"]["state"] = "Succeeded"
    now[0] += 30
    assert poll(jobs)["ancient"].phase is Phase.SUCCEEDED
    lookups = [query for _, query in sim.requests if "jobRunId" in query]
    assert lookups == [{"jobRunId": "ancient", "maxResults": "2"}]
    window = json.loads(sim.requests[-2][1]["startTime"])
    assert window["startTime"] == int((T0 - 7200 + 5400 - 600) * 1000)  # not back to ancient


def test_old_active_jobs_close_together_are_read_by_one_window(sim, api, now) -> None:
    for i in range(3):
        sim.add(f"running-{i}", T0 - 3000 + i, "Running")
    sim.add("done", T0 - 60)
    jobs = windowed(api, now)
    poll(jobs)
    sim.jobs["running-1"]["state"] = "Succeeded"
    now[0] += 30
    assert poll(jobs)["running-1"].phase is Phase.SUCCEEDED
    assert not [query for _, query in sim.requests if "jobRunId" in query]
    window = json.loads(sim.requests[-1][1]["startTime"])
    assert window["startTime"] == int((T0 - 3000 - 60) * 1000)  # cheaper than three lookups
