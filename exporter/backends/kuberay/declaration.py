"""The KubeRay backend as the registry knows it: its target model, client, status table,
cluster states, attribution fields, per-job values (attempts) and simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exporter.backends.kuberay.backend import KubeRayBackend
from exporter.backends.kuberay.families import EXTRAS
from exporter.backends.kuberay.rayclusters import CLUSTER_STATES
from exporter.backends.kuberay.rayjobs import ATTRIBUTION_FIELDS, FAILURE_REASONS, KNOWN_PAIRS
from exporter.backends.kuberay.target import KubeRayTarget
from exporter.backends.registry import BackendDeclaration, register

if TYPE_CHECKING:
    from exporter.simulators.kuberay import KubeRaySimulator


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> KubeRaySimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.kuberay import KubeRaySimulator

    return KubeRaySimulator(token=secret, **settings)


DECLARATION = register(
    BackendDeclaration(
        target=KubeRayTarget,
        client=KubeRayBackend,
        known_pairs=KNOWN_PAIRS,
        cluster_states=CLUSTER_STATES,
        simulator=simulator,
        attribution_fields=ATTRIBUTION_FIELDS,
        failure_reasons=FAILURE_REASONS,
        extras=EXTRAS,
        # the workload's RayJobs carry team and app labels (``namespace`` is always there)
        demo_attribution={
            "labels": {"team": "metadata.labels.team", "workload": "metadata.labels.app"},
            "histograms": ["workload"],
        },
    )
)
