"""A simulator of EMR Serverless Spark's workspace API (ListRayJob, ListRayCluster, ListJobRuns,
ListWorkspaceQueues) and of STS AssumeRoleWithOIDC, for tests and ``--demo``.

It checks every request as the real gateway does (docs/backends/emr-serverless.md): the ACS3
signature over the headers ``SignedHeaders`` lists and the query (read as the gateway reads it,
``+`` for a space, in any order: the official SDK's form and ours both pass), a fresh nonce,
``x-acs-date`` within 15 minutes, STS tokens; failures get Alibaba's error shape. Answers hold
every field the official SDK's models (``alibabacloud-emr-serverless-spark20230808`` 2.3.0)
read, as far as the List operations return them. Jobs and runs are listed newest first.

What real clouds do to a paged list can be switched on, seeded, from tests: a clock ahead of ours
(``clock_skew``: job times, the ``Date`` header and the signature check follow it), jobs listed
only some time after their ``submitTime`` (``add_job(visible_delay=...)``), an order among equal
``submitTime`` values that changes with every request (``shuffle_ties``), jobs deleted between
two pages of a walk (``delete_between_pages``), empty but successful answers
(``empty_answers``), and, for Spark runs, expired page tokens (``spark_runs.expire_tokens``).

One module per concern: ``signing`` (the gateway's check, STS), ``ray_jobs``, ``ray_clusters``,
``spark_runs`` (with ``spark_run`` and ``spark_run_query``), ``queues``, ``handler`` (routing),
``workload``, and ``simulator``, which puts them together.
"""

from exporter.simulators.emr_serverless.simulator import EmrServerlessSimulator, RequestHead

__all__ = ["EmrServerlessSimulator", "RequestHead"]
