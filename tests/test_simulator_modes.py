"""The simulators' modes for what real clouds do to listings: each one behaves as documented."""

from __future__ import annotations

import email.utils
import json

import httpx
import pytest

from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.ray import RaySimulator

T0 = 1_700_000_000.0


def _page(sim: EmrServerlessSimulator, page: int, size: int = 100, **query: str) -> dict:
    return sim.list_jobs({"pageNum": str(page), "pageSize": str(size), **query})


def _ids(answer: dict) -> list[str]:
    return [job["submissionId"] for job in answer["rayJobs"]]


def test_emr_clock_skew_dates_answers_and_jobs_on_the_cloud_clock() -> None:
    now = [T0]
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        sim.clock_skew = 720.0
        key = sim.add_job(status="Running")
        assert sim.jobs()[0]["submitTime"] == int((T0 + 720) * 1000)
        response = httpx.get(f"{sim.url}/api/v1/workspaces/{sim.workspace_id}/rayJob")
        assert response.status_code == 400  # unsigned: refused, but dated all the same
        date = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
        assert date == T0 + 720
        assert key in _ids(_page(sim, 1))


def test_emr_job_listed_only_after_its_visibility_delay() -> None:
    now = [T0]
    sim = EmrServerlessSimulator(clock=lambda: now[0])
    late = sim.add_job(status="Succeeded", submit_time=T0, visible_delay=900)
    assert _ids(_page(sim, 1)) == []
    now[0] = T0 + 900
    assert _ids(_page(sim, 1)) == [late]


def test_emr_ties_come_in_a_new_order_per_request() -> None:
    sim = EmrServerlessSimulator(clock=lambda: T0)
    for i in range(50):
        sim.add_job(f"rj-{i:03d}", submit_time=T0)
    assert _ids(_page(sim, 1)) == _ids(_page(sim, 1))  # stable by default
    sim.shuffle_ties = True
    orders = {tuple(_ids(_page(sim, 1))) for _ in range(3)}
    assert len(orders) == 3
    assert all(set(order) == {f"rj-{i:03d}" for i in range(50)} for order in orders)


def test_emr_deletion_between_pages_shifts_the_rest_up() -> None:
    sim = EmrServerlessSimulator(clock=lambda: T0)
    keys = [sim.add_job(f"rj-{i:03d}", submit_time=T0 - i) for i in range(4)]
    sim.delete_between_pages([keys[0]])
    first = _page(sim, 1, size=2)
    second = _page(sim, 2, size=2)
    assert _ids(first) == keys[:2] and first["totalCount"] == 4
    assert _ids(second) == [keys[3]] and second["totalCount"] == 3  # keys[2] moved to page 1
    assert _ids(_page(sim, 2, size=2)) == [keys[3]]  # the queue is used up


def test_emr_null_cu_hours_and_empty_answers() -> None:
    sim = EmrServerlessSimulator(clock=lambda: T0)
    sim.add_job("rj-null", cu_hours=None)
    sim.empty_answers(1)
    empty = _page(sim, 1)
    assert (empty["rayJobs"], empty["totalCount"]) == ([], 0)
    window = json.dumps({"startTime": 0, "endTime": int(T0 * 1000)})
    sim.empty_answers(1)
    assert _page(sim, 1, submitTime=window)["totalCount"] == 0
    answer = _page(sim, 1, submitTime=window)
    assert answer["totalCount"] == 1 and answer["rayJobs"][0]["cuHours"] is None


def test_ray_head_restart_reuses_ids_under_a_new_session() -> None:
    now = [T0]
    with RaySimulator(clock=lambda: now[0]) as sim:
        driver = sim.add_job(type="DRIVER", status="SUCCEEDED")
        sim.add_job("my-job", status="SUCCEEDED")
        before = httpx.get(f"{sim.url}/api/version").json()["session_name"]
        now[0] += 60
        sim.restart_head()
        assert httpx.get(f"{sim.url}/api/jobs/").json() == []
        assert sim.add_job(type="DRIVER", status="RUNNING") == driver == "02000000"
        assert sim.add_job("my-job", status="RUNNING") == "my-job"
        assert httpx.get(f"{sim.url}/api/version").json()["session_name"] != before
        listed = httpx.get(f"{sim.url}/api/jobs/")
        assert {job["start_time"] for job in listed.json()} == {int((T0 + 60) * 1000)}
        assert email.utils.parsedate_to_datetime(listed.headers["Date"]).timestamp() == T0 + 60
        sim.empty_answers(1)
        assert httpx.get(f"{sim.url}/api/jobs/").json() == []
        assert len(httpx.get(f"{sim.url}/api/jobs/").json()) == 2


def test_modelarts_partial_list_and_empty_answer() -> None:
    sim = ModelArtsLiteSimulator(page_limit=3, clock=lambda: T0)
    keys = [sim.add_job(create_at=T0 - i) for i in range(5)]
    answer = sim.list_jobs({})
    assert [job["id"] for job in answer["data"]] == keys[:3]
    assert (answer["pages"], answer["total"]) == (2, 5)
    sim.empty_answers(1)
    assert sim.list_jobs({})["data"] == []
    assert len(sim.list_jobs({"status": "PROCESSING"})["data"]) == 3


@pytest.mark.parametrize(
    "error, printed",
    [(BrokenPipeError(), False), (ConnectionResetError(), False), (KeyError(), True)],
)
def test_a_client_gone_mid_answer_prints_no_traceback(
    error: Exception, printed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """A poll that gives up mid-answer is the client's business; a simulator's own bug is not."""
    with RaySimulator() as sim:
        try:
            raise error
        except Exception:
            sim._server.handle_error(None, ("127.0.0.1", 1))
    assert ("Traceback" in capsys.readouterr().err) is printed
