"""The Ray client of one target: its job list (read as it arrives, unchanged items undecoded)
and its cluster."""

from __future__ import annotations

import functools
import logging

from exporter.backends.base import Backend, Listing
from exporter.backends.kit.listed import ListedItems
from exporter.backends.ray.clusters import parse_cluster
from exporter.backends.ray.jobs import JOB_MAP, RayJobItem, parse_job, read_jobs
from exporter.backends.ray.target import RayTarget
from exporter.errors import NotFound, PollError
from exporter.http.client import ApiClient
from exporter.http.scrub import Scrubber, model_secrets
from exporter.polling.health import ApiStats

log = logging.getLogger(__name__)


class RayBackend(Backend):
    """A Ray dashboard or an openYuanrong frontend."""

    def __init__(self, target: RayTarget, stats: ApiStats) -> None:
        super().__init__(target.backend, target.attribution)
        self.name = target.name
        headers = {key: value.get_secret_value() for key, value in target.headers.items()}
        token = target.credentials.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.scrub = Scrubber(model_secrets(target))
        self.api = ApiClient(
            target.url,
            stats,
            max_response_bytes=target.max_response_bytes,
            headers=headers,
            tls=target.tls_settings(),
            scrub=self.scrub,
        )
        preferred = "/api/jobs" if target.backend == "openyuanrong" else "/api/jobs/"
        self._jobs_paths = [
            preferred,
            preferred.rstrip("/") if preferred.endswith("/") else preferred + "/",
        ]
        # items listed as they were keep their records; each carries the attribution sources
        parse, read = parse_job, read_jobs
        sources = self.sources()
        if sources:
            parse = JOB_MAP.parser(sources)
            read = functools.partial(read_jobs, sources=sources)
        self._jobs = ListedItems(RayJobItem, parse, read)

    def list_jobs(self, deadline: float) -> Listing:
        path = self._jobs_paths[0]
        read = self._jobs.reader  # the list is read as it arrives
        try:
            listing, as_of = self.api.get_json_dated(
                path, "ListJobs", deadline=deadline, reader=read
            )
        except NotFound:
            fallback = self._jobs_paths[1]
            listing, as_of = self.api.get_json_dated(
                fallback, "ListJobs", deadline=deadline, reader=read
            )
            log.info(
                "target %s: job list found at %s (not %s); using it", self.name, fallback, path
            )
            self._jobs_paths.reverse()
        listing.as_of = as_of
        return listing

    def list_clusters(self, deadline: float) -> Listing:
        try:
            version = self.api.get_json("/api/version", "GetVersion", deadline=deadline)
        except NotFound:
            version = None
        try:
            nodes = self.api.get_json(
                "/api/v0/nodes", "ListNodes", deadline=deadline, params={"limit": 10000}
            )
            status = self.api.get_json("/api/cluster_status", "GetClusterStatus", deadline=deadline)
        except NotFound as err:
            raise PollError(
                "http", f"{err} (no cluster API here? set resources: [jobs] on this target)"
            ) from None
        return Listing(items=[parse_cluster(self.name, version, nodes, status)])

    def close(self) -> None:
        self.api.close()
