"""A ``kuberay`` source at run time: every ``refresh_interval`` (and at each reload) the
RayClusters are listed through the KubeRay backend's client (``backends.kuberay.api``: its
token file re-read as it rotates, TLS, one list per namespace paged by ``limit``/``continue``
and begun again on 410 Gone), and the head of each ready one (``backends.kuberay.heads``)
becomes a target: named by its service's DNS name and dashboard port whatever ``address`` it
is polled at, and labelled with the cluster's ``namespace`` and name (``raycluster``).

A list that cannot be read whole (no answer, an error status, a page cap) keeps the targets of
the last good one: each such refresh is counted by reason, and the problem is logged when it
changes. A RayCluster that cannot be a target (unreadable, a name that is no DNS label, no IP
where one is asked for, a port that is none, a label value refused, the template refusing it)
is left out and the others used: counted and logged once per version of the object.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

import httpx

from exporter.backends.kuberay.api import namespaced_lists, open_client
from exporter.backends.kuberay.heads import RayClusterHead, read_head
from exporter.config.discovery import DiscoverySource, target_name, template_target
from exporter.config.types import Defaults, one_line
from exporter.discovery.file_sd import SHOWN, Labels, SdProblem, label_value_problem
from exporter.discovery.http_source import reason_of
from exporter.discovery.source import Discovered, RemoteSource
from exporter.errors import PollError
from exporter.polling.health import ApiStats

log = logging.getLogger(__name__)

OPERATION = "ListRayClusters"
REASONS = (
    "http",
    "auth",
    "timeout",
    "connection",
    "tls",
    "too_large",
    "format",
    "incomplete",
    "labels",
    "target",
    "duplicate",
    "limit",
)


class KubeRaySource(RemoteSource):
    """One ``kuberay`` source; ``refresh`` lists the RayClusters again."""

    reasons = REASONS
    kept = "last good list"

    def __init__(
        self,
        settings: DiscoverySource,
        defaults: Defaults,
        errors: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, defaults, errors, clock)
        assert settings.kuberay is not None
        self.kuberay = settings.kuberay
        self.where = f"{self.kuberay.endpoint_text()} rayclusters"
        # one client while the source lives: its connections and TLS context are reused, and
        # its token file is re-read as it rotates
        api = open_client(self.kuberay, ApiStats(), self.kuberay.max_response_bytes)
        weakref.finalize(self, api.close)
        who = f"discovery {self.name}"
        self._lists = namespaced_lists(api, self.kuberay, "rayclusters", OPERATION, read_head, who)
        self._listed: tuple[tuple[str, str], ...] | None = None  # (uid, version) last used
        self._refused: set[str] = set()  # the objects' problems of the last list used

    def _read(self, force: bool) -> bool:
        """List the RayClusters; publish their targets when a cluster changed (or ``force``);
        whether every object listed could be used."""
        heads, skipped = self._list()
        listed = (*((head.key, head.version) for head in heads), ("", str(skipped)))
        if listed != self._listed or force:
            found = self._found(heads, skipped)
            self._publish(self._merge([(self.where, found)]), self.where)
            self._listed = listed
        return not self._refused

    def _list(self) -> tuple[list[RayClusterHead], int]:
        """Every RayCluster's head, and how many objects could not be read; SdProblem."""
        heads: list[RayClusterHead] = []
        skipped = 0
        deadline = time.monotonic() + self.kuberay.timeout
        try:
            for pages in self._lists:
                walk = pages.walk({}, deadline)
                if not walk.complete:
                    problem = f"{self.where}: {pages.path}: not listed whole (see above)"
                    raise SdProblem("incomplete", problem, f"incomplete {pages.path}")
                heads += walk.found.values()
                skipped += walk.skipped
        except PollError as err:
            key = f"{err.reason} {err.status}"  # not the message: it may quote the answer
            raise SdProblem(reason_of(err), f"{self.where}: {err}", key) from None
        except httpx.HTTPError as err:  # none expected past the client
            name = type(err).__name__
            raise SdProblem("http", f"{self.where}: {OPERATION}: {name}", name) from None
        return heads, skipped

    def _found(self, heads: list[RayClusterHead], skipped: int) -> tuple[Discovered, ...]:
        """The targets of the serving heads; each object's problem counted and logged when
        it is new (not a problem of the list used before)."""
        found, refused = [], {}
        if skipped:
            refused[f"format {skipped}"] = SdProblem(
                "format", f"{self.where}: {skipped} objects without metadata.uid"
            )
        for head in heads:
            if not head.serving:
                continue
            try:
                found.append(self._target(head))
            except SdProblem as problem:
                refused[f"{head.key}@{head.version} {problem.reason}"] = problem
        for key, problem in refused.items():
            if key not in self._refused:
                self.errors[problem.reason] += 1
                log.error("discovery %s: %s: left out", self.name, problem)
        self._refused = set(refused)
        return tuple(found)

    def _target(self, head: RayClusterHead) -> Discovered:
        """The target of a serving head; SdProblem naming the RayCluster."""
        shown = f"RayCluster {one_line(head.namespace, SHOWN)}/{one_line(head.name, SHOWN)}"
        labels: Labels = (("namespace", head.namespace), ("raycluster", head.name))
        for name, value in labels:
            problem = label_value_problem(value)
            if problem is not None or not value:
                raise SdProblem("labels", f"{self.where}: {shown}: {name}: {problem or 'empty'}")
        if head.port is None:
            raise SdProblem("target", f"{self.where}: {shown}: the dashboard port is not 1-65535")
        try:
            scheme = self.settings.scheme
            named = f"{scheme}://{head.service_host()}:{head.port}"
            url = f"{scheme}://{head.host(self.kuberay.address)}:{head.port}"
            target = self._built.get((named, url))
            if target is None:
                name = target_name(self.name, named)
                target = template_target(self.settings, self.defaults, url, name=name)
        except ValueError as err:
            raise SdProblem("target", f"{self.where}: {shown}: {err}") from None
        self._built[(named, url)] = target
        return Discovered(target, self.name, labels)
