"""What only KubeRay reports of its RayJobs, and the families that carry it: the attempts the
operator counts in ``status.failed`` and ``status.succeeded``, counted by how each ended; the
failed ones shown per RayJob too.

The operator adds one to ``failed`` when an attempt fails and one to ``succeeded`` when it
succeeds (``checkBackoffLimitAndUpdateStatusIfNeeded``, ``rayjob_controller.go``); a stopped
one adds to neither. With ``spec.backoffLimit`` a failed attempt is retried while ``failed`` is
at most the limit (not after a deadline): the status goes to ``Retrying``, the RayCluster and
the submitter are deleted, and the RayJob starts over from ``New``. So a RayJob's retries are
its failed attempts but the last one when it failed in the end; every failed attempt when it
succeeded.
"""

from __future__ import annotations

from exporter.backends.kit.extras import Extras, ExtraValue
from exporter.exposition.families import JOB, KUBERAY, TARGET
from exporter.exposition.family import Family

JOB_ATTEMPTS_TOTAL = Family(
    "jobfleet_job_attempts_total",
    "counter",
    "Attempts of jobs that ended, by phase (KubeRay: RayJobs' status.failed and "
    "status.succeeded); failed attempts retried or not.",
    (*TARGET, "phase"),
    attribution=True,
    backends=(KUBERAY,),
)
JOB_FAILED_ATTEMPTS = Family(
    "jobfleet_job_failed_attempts",
    "gauge",
    "Attempts of a job that failed so far (KubeRay: status.failed).",
    JOB,
    backends=(KUBERAY,),
)
EXTRAS = Extras(  # each name is its name in the state file
    (
        ExtraValue(
            "failed_attempts",
            gauge=JOB_FAILED_ATTEMPTS,
            counter=JOB_ATTEMPTS_TOTAL,
            labels=(("phase", "failed"),),
            whole=True,
        ),
        ExtraValue(
            "succeeded_attempts",
            counter=JOB_ATTEMPTS_TOTAL,
            labels=(("phase", "succeeded"),),
            whole=True,
        ),
    )
)
