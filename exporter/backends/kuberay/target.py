"""The configuration of a KubeRay target: a Kubernetes API server and the scope of its lists
(``access.KubernetesAccess``: the URL, the pod's own in-cluster API or a kubeconfig's context,
the namespaces and label selector of the RayJobs and RayClusters it lists), and how its RayJobs
are kept between polls."""

from __future__ import annotations

from typing import Literal

from exporter.backends.kuberay.access import KubernetesAccess
from exporter.config.types import AttributionSettings, Defaults, Duration, Target, redact_url

NAMESPACE_LABEL = "namespace"  # every KubeRay series' own label: the RayJob's namespace
NAMESPACE_SOURCE = "metadata.namespace"


class KubeRayTarget(KubernetesAccess, Target):
    """RayJobs (``jobs``) and RayClusters (``clusters``) of one Kubernetes cluster, reached
    and scoped by the settings ``access.KubernetesAccess`` declares."""

    backend: Literal["kuberay"]
    # RayJobs are watched from poll to poll; listed whole again this often, to mend a state
    # an odd event left (docs/backends/kuberay.md)
    full_list_interval: Duration = 1800.0

    def with_defaults(self, defaults: Defaults) -> Target:
        """Also the ``namespace`` label, first, on every job series (and on the histograms):
        the label KubeRay users want first, which no configured label may take."""
        target = super().with_defaults(defaults)
        given = target.attribution or AttributionSettings()
        labels = {NAMESPACE_LABEL: NAMESPACE_SOURCE, **given.labels}
        histograms = (NAMESPACE_LABEL, *given.histograms)
        attribution = given.model_copy(update={"labels": labels, "histograms": histograms})
        return target.model_copy(update={"attribution": attribution})

    def identity(self) -> dict[str, object]:
        return {
            "url": redact_url(self.url or ""),
            "namespaces": list(self.namespaces),
            "label_selector": self.label_selector,
        }
