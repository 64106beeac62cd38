"""What every EMR Serverless Spark answer shares: Alibaba's error, request ids, and the query
parameters several operations read alike (page numbers, JSON-valued parameters)."""

from __future__ import annotations

import json
import uuid
from typing import Any


class ApiError(Exception):
    """An error answer: its HTTP status and Alibaba's ``Code`` and ``Message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def request_id() -> str:
    return str(uuid.uuid4()).upper()


def page_number_paging(query: dict[str, str]) -> tuple[int, int]:
    """(``pageNum``, ``pageSize``) of a page-numbered list (ListRayJob, ListRayCluster)."""
    try:
        page_num = int(query.get("pageNum", "1"))
        page_size = int(query.get("pageSize", "20"))
    except ValueError:
        raise ApiError(400, "InvalidParameter", "pageNum and pageSize must be integers.") from None
    if page_num < 1 or not 1 <= page_size <= 100:
        raise ApiError(400, "InvalidParameter", "pageSize must be 1-100 and pageNum >= 1.")
    return page_num, page_size


def json_parameter(query: dict[str, str], name: str) -> Any:
    """The value of a parameter the SDK sends as JSON (a time range, a list); None when absent."""
    if name not in query:
        return None
    try:
        return json.loads(query[name])
    except ValueError:
        raise ApiError(400, "InvalidParameter", f"{name} is not valid JSON.") from None


def time_range(query: dict[str, str], name: str) -> tuple[int, int] | None:
    """A ``{startTime, endTime}`` range in epoch ms (either bound may be left out); None when
    the parameter is absent."""
    window = json_parameter(query, name)
    if window is None:
        return None
    try:
        return int(window.get("startTime", 0)), int(window.get("endTime", 2**62))
    except (ValueError, TypeError, AttributeError):
        raise ApiError(400, "InvalidParameter", f"{name} is not a time range.") from None
