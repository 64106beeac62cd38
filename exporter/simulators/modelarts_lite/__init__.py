"""A simulator of the ModelArts APIs the exporter reads, for tests and ``--demo``: Lite Server
jobs, training jobs (their search and their stages), resource pools, their statistics and their
nodes, as the official SDK (``huaweicloudsdkmodelarts`` 3.1.219) speaks them.

Every request is checked as the gateway checks it (``signing``: SDK-HMAC-SHA256 over the
method, path, query, signed headers and the SHA-256 of the body; or an IAM token); failures get
Huawei's error shape (``error_code``, ``error_msg``) and an ``X-Request-Id``. Answers hold every
field the SDK's models read, as far as the operations return them.

Faults switched on from tests: throttling of any request (``throttle_next``) or of one
operation (``faults.add``), a job list's own failures (``fail_job_lists``;
``training_jobs.fail_lists`` for 5xx), empty but successful answers (``empty_answers``), jobs
submitted or deleted between the pages of a search (``training_jobs.submit_between_pages``,
``delete_between_pages``), a pool saturated while jobs queue (``training_jobs.fill_pool``),
nodes in any state (``pools.set_node``), times re-derived in each answer (``jitter``).

One module per concern: ``signing``, ``server_jobs`` (Lite Server), ``training_jobs`` (with
``training_job``, ``training_render``, ``training_search`` and ``stages``), ``pools`` (with
``pool``, ``pool_render`` and ``flavors``), ``handler`` (routing), ``workload``, and
``simulator``, which puts them together.
"""

from exporter.simulators.modelarts_lite.common import RequestHead
from exporter.simulators.modelarts_lite.simulator import TRAINING_JOBS, ModelArtsLiteSimulator

__all__ = ["TRAINING_JOBS", "ModelArtsLiteSimulator", "RequestHead"]
