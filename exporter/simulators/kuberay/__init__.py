"""KubeRay as the Kubernetes API shows it: RayJob and RayCluster objects (``ray.io/v1``) in a
``kubernetes.KubernetesApi``, moved through the statuses the KubeRay operator writes
(``rayjob``), the job contract over the RayJobs (``rayjobs``), RayClusters with their groups
(``rayclusters``), and an evolving workload that deletes finished RayJobs after their TTL, as
``ttlSecondsAfterFinished`` and ``DeleteSelf`` do (``workload``)."""

from exporter.simulators.kuberay.simulator import KubeRaySimulator

__all__ = ["KubeRaySimulator"]
