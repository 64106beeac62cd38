"""The Ray backend as the registry knows it (``ray`` and ``openyuanrong``): its target model,
client, status table, cluster states, attribution fields and simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exporter.backends.ray.backend import RayBackend
from exporter.backends.ray.clusters import CLUSTER_STATES
from exporter.backends.ray.jobs import ATTRIBUTION_FIELDS, FAILURE_REASONS, STATUSES
from exporter.backends.ray.target import RayTarget
from exporter.backends.registry import BackendDeclaration, register
from exporter.model import status_pairs

if TYPE_CHECKING:
    from exporter.simulators.ray import RaySimulator


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> RaySimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.ray import RaySimulator

    return RaySimulator(flavour=name, auth_token=secret, **settings)


DECLARATION = register(
    BackendDeclaration(
        target=RayTarget,
        client=RayBackend,
        known_pairs=status_pairs(STATUSES),
        cluster_states=CLUSTER_STATES,
        simulator=simulator,
        attribution_fields=ATTRIBUTION_FIELDS,
        failure_reasons=FAILURE_REASONS,
        # the workload's metadata: job_name and owner (a team) in both flavours; 6 names
        # on 4 slots, so some go to "other"
        demo_attribution={
            "labels": {"team": "metadata.owner", "workload": "metadata.job_name"},
            "max_values": 4,
            "histograms": ["team"],
        },
    )
)
