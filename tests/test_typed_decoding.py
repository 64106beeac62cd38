"""EMR and ModelArts pages read straight into typed records mean what the generic tree means,
quirks included; an answer the typed reader refuses is read leniently, as before."""

from __future__ import annotations

import pytest

from exporter.backends import emr_serverless, modelarts_lite
from exporter.backends.emr_serverless.ray_jobs import parse_jobs
from exporter.backends.kit.fields import listed_items, whole_number
from exporter.http.decode import TypedRecord, decode_json

EMR_TYPED = [
    b'{"rayJobs": [{"submissionId": "a", "status": "Running", "submitTime": "1700000000123",'
    b' "cuHours": "1.5", "other": {"x": [1]}}, {"name": "no id"}], "totalCount": "2"}',
    b'{"rayJobs": [{"submissionId": 7, "endTime": 0, "cuHours": -1, "clusterState": null}]}',
    b'{"rayJobs": [], "totalCount": 99999999999999999999999999999999999999999999999}',
    b'{"RequestId": "r"}',  # no rayJobs: refused alike
]
EMR_LENIENT = [
    b'{"rayJobs": [{"submissionId": "b\xff", "cuHours": NaN}, 3], "totalCount": 2}',
    b'{"rayJobs": "not a list"}',
]
LITE_TYPED = [
    b'{"data": [{"id": "j", "status": "processing", "create_at": 1700000000123,'
    b' "update_at": "1700000001", "abnormal_count": "2", "type": "TRAIN"}], "pages": 1}',
    b'{"data": [{"id": "k", "status": "FINISHED", "abnormal_count": 1}, {}], "total": 5}',
]
LITE_LENIENT = [
    b'{"data": [{"id": "l\xff", "status": "FINISHED"}, "x"], "total": 2}',
    b'{"data": {"id": "m"}}',
]


def _emr(payload: object) -> object:
    try:
        items = listed_items(payload, "rayJobs", "ListRayJob")
    except Exception as err:  # the same refusal, whichever the decoder
        return type(err), str(err)
    return parse_jobs(items), whole_number(payload.get("totalCount"))


def _lite(payload: object) -> object:
    try:
        return modelarts_lite.parse_page(payload)
    except Exception as err:
        return type(err), str(err)


@pytest.mark.parametrize("body", EMR_TYPED + EMR_LENIENT)
def test_emr_pages(body: bytes) -> None:
    typed = emr_serverless.decode_job_page(body)
    assert isinstance(typed, TypedRecord) == (body in EMR_TYPED)
    assert _emr(typed) == _emr(decode_json(body))


@pytest.mark.parametrize("body", LITE_TYPED + LITE_LENIENT)
def test_modelarts_pages(body: bytes) -> None:
    typed = modelarts_lite.decode_job_page(body)
    assert isinstance(typed, TypedRecord) == (body in LITE_TYPED)
    assert _lite(typed) == _lite(decode_json(body))
