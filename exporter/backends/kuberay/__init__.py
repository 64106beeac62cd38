"""KubeRay: RayJobs and RayClusters (``ray.io/v1``) from the Kubernetes API.

Lists are paged by ``limit``/``continue`` (``kit.token_list``), begun again on 410 Gone.
A module per concern: ``target`` (the configuration, in-cluster included), ``kubeconfig``
(a kubeconfig file's context read into a target's settings, as kubectl reads it), ``api`` (the
client: a token file re-read as it rotates, ``Status`` errors), ``rayjobs`` (a RayJob read
into a job: its two statuses made one), ``rayclusters`` (a RayCluster read into a cluster),
``backend`` (the client of one target) and ``declaration`` (its registration).
"""

from __future__ import annotations

from exporter.backends.kuberay.declaration import DECLARATION

__all__ = ["DECLARATION"]
