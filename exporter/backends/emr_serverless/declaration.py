"""The EMR Serverless Spark backend as the registry knows it: its target model, client,
status table, cluster states, attribution fields, per-job values and simulator, for its Ray
jobs (``jobs``), and its Spark job runs as a job resource of their own (``spark_runs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exporter.backends.emr_serverless import spark_runs
from exporter.backends.emr_serverless.backend import EmrServerlessBackend
from exporter.backends.emr_serverless.families import EXTRAS, SPARK_EXTRAS
from exporter.backends.emr_serverless.queue_families import QUEUES
from exporter.backends.emr_serverless.ray_clusters import CLUSTER_STATES
from exporter.backends.emr_serverless.ray_jobs import ATTRIBUTION_FIELDS, FAILURE_REASONS, STATUSES
from exporter.backends.emr_serverless.target import EmrServerlessTarget
from exporter.backends.kit.resources import JobResource
from exporter.backends.registry import BackendDeclaration, register
from exporter.model import status_pairs

if TYPE_CHECKING:
    from exporter.simulators.emr_serverless import EmrServerlessSimulator


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> EmrServerlessSimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.emr_serverless import EmrServerlessSimulator

    keys = {"access_key_secret": secret} if secret is not None else {}
    return EmrServerlessSimulator(**keys, **settings)


SPARK_RUNS = JobResource(
    spark_runs.RESOURCE,
    status_pairs(spark_runs.STATES),
    failure_reasons=spark_runs.FAILURE_REASONS,
    attribution_fields=spark_runs.ATTRIBUTION_FIELDS,
    extras=SPARK_EXTRAS,
    open_reasons=spark_runs.REASON_CAP,
)
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
        # the demo polls Ray jobs and Spark job runs: a field of both, and one read per list
        demo_attribution={
            "labels": {
                "workload": "name",
                "owner": {"jobs": "creatorName", "spark_runs": "creator"},
            },
            "histograms": ["workload"],
        },
        resources=(SPARK_RUNS, QUEUES),
    )
)
