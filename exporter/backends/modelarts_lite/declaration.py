"""The ModelArts Lite backend as the registry knows it: its target model, client, status
table, attribution fields, per-job values, its own resources (training jobs, resource pools)
and simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exporter.backends.kit.resources import JobResource
from exporter.backends.modelarts_lite import training_jobs
from exporter.backends.modelarts_lite.backend import ModelArtsLiteBackend
from exporter.backends.modelarts_lite.families import EXTRAS, TRAINING_EXTRAS
from exporter.backends.modelarts_lite.pools import POOLS
from exporter.backends.modelarts_lite.server_jobs import (
    ATTRIBUTION_FIELDS,
    FAILURE_REASONS,
    KNOWN_PAIRS,
)
from exporter.backends.modelarts_lite.target import ModelArtsLiteTarget
from exporter.backends.registry import BackendDeclaration, register

if TYPE_CHECKING:
    from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator


def simulator(name: str, *, secret: str | None = None, **settings: Any) -> ModelArtsLiteSimulator:
    """A simulator of this API (tests, ``--demo``), imported only when one is wanted."""
    from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator

    keys = {"secret_key": secret} if secret is not None else {}
    return ModelArtsLiteSimulator(**keys, **settings)


TRAINING_JOBS = JobResource(
    training_jobs.RESOURCE,
    training_jobs.KNOWN_PAIRS,
    failure_reasons=training_jobs.FAILURE_REASONS,
    attribution_fields=training_jobs.ATTRIBUTION_FIELDS,
    extras=TRAINING_EXTRAS,
)
DECLARATION = register(
    BackendDeclaration(
        target=ModelArtsLiteTarget,
        client=ModelArtsLiteBackend,
        known_pairs=KNOWN_PAIRS,
        simulator=simulator,
        attribution_fields=ATTRIBUTION_FIELDS,
        failure_reasons=FAILURE_REASONS,
        extras=EXTRAS,
        # job names are open-ended (a random suffix): past 10 values they go to "other"
        demo_attribution={
            "labels": {
                "kind": {"jobs": "type"},
                "workload": {"jobs": "name", "training_jobs": "metadata.name"},
                "engine": {"training_jobs": "algorithm.engine.engine_name"},
            },
            "max_values": 10,
        },
        resources=(TRAINING_JOBS, POOLS),
    )
)
