"""``KubeRaySimulator``: the Kubernetes API of a cluster running the KubeRay operator, served
plain or over TLS, its RayJobs the job contract (``rayjobs.RayJobs``), its workload the demo's."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporter.simulators.base import Simulator, Workload
from exporter.simulators.kuberay.raycluster import DASHBOARD_PORT, become_ready, new_ray_cluster
from exporter.simulators.kuberay.rayjobs import RayJobs
from exporter.simulators.kuberay.workload import KubeRayWorkload
from exporter.simulators.kubernetes.server import KubernetesApi

# seconds a watch goes on after its replay: none, so that a poll, which reads its watch to the
# end, takes no longer than its requests (an API server may end a watch before the
# ``timeoutSeconds`` asked: it spreads them; tests of a long watch ask for one)
WATCH_AFTER_REPLAY = 0.0


class KubeRaySimulator(RayJobs, Simulator):
    DEFAULT_RATE_PER_MIN = 6.0

    def __init__(
        self,
        *,
        token: str | None = None,
        seed: int = 1,
        clock: Callable[[], float] = time.time,
        bookmark_every: float = 60.0,
        longest_watch: float = WATCH_AFTER_REPLAY,
    ) -> None:
        self.clock = clock
        self.token = token or "kuberay-demo-token"
        self.seed = seed
        api = KubernetesApi(
            lambda: self.clock(),
            tokens={self.token},
            bookmark_every=bookmark_every,
            longest_watch=longest_watch,
        )
        super().__init__(api, self.now)

    def now(self) -> float:
        """The API's clock (``clock``, which tests may swap)."""
        return self.clock()

    def new_workload(self, rate_per_min: float) -> Workload:
        return KubeRayWorkload(self, rate_per_min, self.seed)

    def create_ray_cluster(
        self,
        namespace: str,
        name: str,
        *,
        workers: dict[str, tuple[int, int]] | None = None,
        ready: bool = True,
        dashboard_port: int = DASHBOARD_PORT,
        **head: str,
    ) -> str:
        """A RayCluster no RayJob owns (shared, or interactive) of ``workers`` ({group:
        (replicas, GPUs per worker)}), its dashboard on ``dashboard_port``, ready now unless
        not ``ready`` (with the ``head`` addresses given: ``service_ip``, ``pod_ip``); its uid."""
        item = new_ray_cluster(
            name,
            namespace,
            workers=workers or {"workers": (1, 0)},
            labels={"app": name},
            dashboard_port=dashboard_port,
        )
        if ready:
            become_ready(item, self.now(), **head)
        return str(self.api.store.create("rayclusters", item)["metadata"]["uid"])

    def target_config(self, name: str, **settings: Any) -> dict[str, Any]:
        """A config target that polls this simulator."""
        return {
            "name": name,
            "backend": "kuberay",
            "url": self.url,
            "credentials": {"token": self.token},
            **settings,
        }

    def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
    ) -> str:
        self.url = self.api.start(host, port, tls, client_ca)
        return self.url

    def stop(self) -> None:
        if self._workload:
            self._workload.stop()
        self.api.stop()
