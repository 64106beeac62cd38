"""A simulator of Ray's Jobs REST API and its openYuanrong flavour, for tests and ``--demo``.

Faithful to docs/backends/ray.md, the Ray 2.60 answers recorded in ``tests/data/ray`` and Ray's
dashboard code: Ray serves ``/api/jobs/`` (404 on ``/api/jobs``), integer epoch milliseconds and
nulls; openYuanrong serves ``/api/jobs`` (404 on ``/api/jobs/``), epoch SECONDS as strings, ``""``
for unset, and no ``job_id``/``message``. Token auth answers 401 without a token and 403 with a
wrong one. Tests drive it with ``add_job``/``set_status`` and the fault knobs; the demo runs a
seeded, evolving workload (``start_workload``; tests call ``step(now)`` on a clock of their own).
``restart_head`` is a head restart without GCS fault tolerance: the jobs are gone, DRIVER job
ids start again from ``02000000`` and ``/api/version`` names a new session.

The internal job records (``jobs()``) keep times in epoch seconds; rendering converts them.

One module per concern: ``jobs`` (the records and how they move), ``jobs_render`` (a record as
each flavour sends it), ``jobs_api`` (the job endpoints, a submission's checks), ``nodes`` (nodes
and usage), ``cluster_status`` (the autoscaler's view of them), ``serving`` (auth, faults,
routing), ``handler`` (HTTP), ``workload`` (the demo's), ``heads`` (``RayHeads``: several heads
behind one URL), ``common``, and ``simulator``, which puts them together.
"""

from exporter.simulators.ray.heads import RayHeads
from exporter.simulators.ray.simulator import RaySimulator

__all__ = ["RayHeads", "RaySimulator"]
