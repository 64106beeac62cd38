"""The exporter's ListJobRuns requests against the official SDK's for the same pages: a full
walk (its first page and pages by ``nextToken``), a steady poll's ``startTime`` window and a
run looked up by ``jobRunId``, the target's ``spark_filters`` and region on each."""

from __future__ import annotations

import json
import time

from alibabacloud_emr_serverless_spark20230808 import models

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator

from .sdk_capture import SentRequest, differences, sdk_client, sent

ACTION = "ListJobRuns"
# How each of the exporter's ListJobRuns requests differs from the SDK's for the same page (the
# same parameters, both accepted): the SDK sends the query form-encoded, a space as "+", where
# ours is the canonical form it signs ("%20"), and the SDK signs three headers more. Neither
# matters to the gateway, which decodes the query and checks whatever SignedHeaders lists.
SIGNED_ONLY_BY_THE_SDK = [
    "signed only by the SDK: accept",
    "signed only by the SDK: user-agent",
    "signed only by the SDK: x-acs-credentials-provider",
]


def sdk_request(pairs: list[tuple[str, str]]) -> models.ListJobRunsRequest:
    """The SDK's request for the parameters of one of ours; every one is read (KeyError for
    one the exporter sends that this does not know)."""
    query = dict(pairs)
    window = json.loads(query.pop("startTime", "null"))
    known = {
        "maxResults": "max_results",
        "nextToken": "next_token",
        "jobRunId": "job_run_id",
        "name": "name",
        "creator": "creator",
        "resourceQueueId": "resource_queue_id",
        "regionId": "region_id",
    }
    fields = {known[key]: value for key, value in query.items()}
    if "max_results" in fields:
        fields["max_results"] = int(fields["max_results"])
    if window is not None:
        fields["start_time"] = models.ListJobRunsRequestStartTime(
            start_time=window["startTime"], end_time=window["endTime"]
        )
    return models.ListJobRunsRequest(**fields)


def exporters_requests(sim: EmrServerlessSimulator, now: float) -> list[SentRequest]:
    """The ListJobRuns requests of two polls of a target with ``spark_filters`` and a region:
    a full walk of three pages, then a window and a run active from before it, by its id."""
    runs = sim.spark_runs
    kept = {"queue": "dev", "creator": "2001", "name": "nightly run"}
    runs.add_run("jr-old", submit_time=now - 9000, **kept)
    for i in range(250):
        runs.add_run(f"jr-{i:03d}", state="Success", submit_time=now - 8000 + 20 * i, **kept)
    target = sim.target_config(
        "emr",
        resources=["spark_runs"],
        requests_per_second=1000,
        region="cn-hangzhou",
        spark_filters={"resource_queue_id": "dev", "creator": "2001", "name": "nightly run"},
    )
    exporter = Exporter(parse_config({"targets": [target]}))
    try:
        assert exporter.poll_all_once()
        runs.add_run("jr-new", **kept)
        assert exporter.poll_all_once()
    finally:
        exporter.close()
    return sent(sim, ACTION)


def shape(request: SentRequest) -> tuple[bool, bool, str | None]:
    """Whether it names a page by token, whether it asks for a window, the run it looks up."""
    query = dict(request.pairs())
    return "nextToken" in query, "startTime" in query, query.get("jobRunId")


def test_the_exporters_list_job_runs_requests_against_the_sdks() -> None:
    now = [float(int(time.time()))]  # the SDK dates its requests by the real clock
    with EmrServerlessSimulator(clock=lambda: now[0]) as sim:
        ours = exporters_requests(sim, now[0])
        client = sdk_client(sim)
        theirs, answers = [], []
        for request in ours:
            answer = client.list_job_runs(sim.workspace_id, sdk_request(request.pairs()))
            answers.append([run.job_run_id for run in answer.body.job_runs])
            theirs.append(sent(sim, ACTION)[-1])
    assert [shape(request) for request in ours] == [
        (False, False, None),
        (True, False, None),
        (True, False, None),
        (False, True, None),
        (False, False, "jr-old"),
    ]
    # the SDK was answered the pages ours were: the window holds the last 31 old runs and jr-new
    assert [len(ids) for ids in answers] == [100, 100, 51, 32, 1]
    assert (answers[3][0], answers[4]) == ("jr-new", ["jr-old"])
    for mine, sdks in zip(ours, theirs, strict=True):
        mine_, sdks_ = mine.comparable(), sdks.comparable()
        assert (mine_["method"], mine_["path"], mine_["query"]) == (
            sdks_["method"],
            sdks_["path"],
            sdks_["query"],
        )
        shared = mine_["signed"].keys() & sdks_["signed"].keys()
        assert shared == {"host", "x-acs-action", "x-acs-version", "x-acs-content-sha256"}
        assert {k: mine_["signed"][k] for k in shared} == {k: sdks_["signed"][k] for k in shared}
        plus = mine.query.replace("%20", "+")  # the name's space, as the SDK sends it
        assert differences(mine, sdks) == [
            f"query on the wire: {mine.query!r} vs {plus!r}",
            *SIGNED_ONLY_BY_THE_SDK,
        ]
