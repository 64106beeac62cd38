"""The EMR Serverless Spark backend as the registry knows it: its target model, client,
status table, cluster states, attribution fields, per-job values and simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exporter.backends.emr_serverless.backend import EmrServerlessBackend
from exporter.backends.emr_serverless.families import EXTRAS
from exporter.backends.emr_serverless.queue_families import QUEUES
from exporter.backends.emr_serverless.ray_clusters import CLUSTER_STATES
from exporter.backends.emr_serverless.ray_jobs import ATTRIBUTION_FIELDS, FAILURE_REASONS, STATUSES
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.registry import BackendDeclaration, register
from exporter.model import status_pairs

if TYPE_CHECKING:
    from exporter.simulators.emr_serverless import EmrServerlessSimulator


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> EmrServerlessSimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.emr_serverless import EmrServerlessSimulator

    keys = {"access_key_secret": secret} if secret is not None else {}
    return EmrServerlessSimulator(**keys, **settings)


DECLARATION = register(
    BackendDeclaration(
        target=EmrServerlessTarget,
        client=EmrServerlessBackend,
        known_pairs=status_pairs(STATUSES),
        cluster_states=CLUSTER_STATES,
        simulator=simulator,
        attribution_fields=ATTRIBUTION_FIELDS,
        failure_reasons=FAILURE_REASONS,
        extras=EXTRAS,
        demo_attribution={
            "labels": {"user": "creatorName", "workload": "name"},
            "histograms": ["user"],
        },
        resources=(QUEUES,),
    )
)
