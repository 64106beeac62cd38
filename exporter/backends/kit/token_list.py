"""A job list paged by token, read into jobs: the request of each page, where its answer holds
the items, the next token and the total, and the token walk over them (``token_walk``), declared
by a backend instead of written again (EMR ``ListJobRuns``, Kubernetes lists, a plugin's API).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.backends.base import Listing
from exporter.backends.kit.fields import number, read_items, text
from exporter.backends.kit.token_walk import (
    NEXT_TOKEN,
    TokenExpired,
    TokenParams,
    expired,
    walk_tokens,
)
from exporter.backends.kit.walk import TokenPage, Walk
from exporter.errors import PollError
from exporter.http.client import ApiClient
from exporter.http.decode import TypedRecord, decode_json
from exporter.model import Job


@dataclass(frozen=True, slots=True)
class TokenEnvelope:
    """Where a page answer holds its items, the next page's token, the total count and the
    version of the list it shows: dotted paths (``metadata.continue``); ``total`` and
    ``version`` are "" for an API that gives none."""

    items: str
    next_token: str
    total: str = ""
    version: str = ""


def value_at(payload: Any, path: str) -> Any:
    """The value at the dotted ``path`` of an answer (dicts and typed records); None where a
    step finds anything else."""
    for step in path.split("."):
        if not isinstance(payload, dict | TypedRecord):
            return None
        payload = payload.get(step)
    return payload


@dataclass
class TokenList:
    """One token-paged job list of a target: ``listing`` walks it whole; ``walk`` with filters.

    ``parse`` makes a ``Job`` of an item (a field map's parser); ``name`` says who walks what
    in log lines (``target t: ListFlows``); ``params`` are filters every request carries."""

    api: ApiClient
    path: str
    operation: str
    parse: Callable[[Any], Job | None]
    envelope: TokenEnvelope
    name: str
    form: TokenParams = NEXT_TOKEN
    page_size: int = 100
    max_pages: int = 1000
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] | None = None
    decode: Callable[[bytes], Any] = decode_json
    # whether an error refuses the page token a request carried (the walk then begins again):
    # Kubernetes' 410 Gone by default; an API's own refusal where it has one
    token_refused: Callable[[PollError, str | None], bool] = expired

    def read(self, params: Mapping[str, Any], token: str | None, deadline: float) -> TokenPage:
        """The page ``token`` names (None: the first) of the jobs matching ``params``."""
        query = {**self.params, **params, **self.form.query(token, self.page_size)}
        try:
            payload, date = self.api.get_json_dated(
                self.path,
                self.operation,
                deadline=deadline,
                params=query,
                headers=self.headers,
                decode=self.decode,
            )
        except PollError as err:
            if self.token_refused(err, token):
                raise TokenExpired(str(err)) from err
            raise
        items = value_at(payload, self.envelope.items)
        if not isinstance(items, list):
            raise PollError("parse", f"{self.operation}: answer has no {self.envelope.items} list")
        size = len(items)
        jobs, skipped = read_items(self.parse, items)
        total = number(value_at(payload, self.envelope.total)) if self.envelope.total else None
        after = text(value_at(payload, self.envelope.next_token))
        whole = int(total) if total is not None and total >= 0 else None
        version = text(value_at(payload, self.envelope.version)) if self.envelope.version else ""
        return TokenPage(
            jobs, size, whole, skipped, date, next_token=after or None, version=version
        )

    def walk(self, params: Mapping[str, Any], deadline: float) -> Walk:
        return walk_tokens(self, params, deadline)

    def listing(self, deadline: float) -> Listing:
        """Every job of the list, as one poll's ``Listing``."""
        walk = self.walk({}, deadline)
        jobs = list(walk.found.values())
        return Listing(items=jobs, complete=walk.complete, skipped=walk.skipped, as_of=walk.as_of)
