"""A target's identity: what its counts are counts of.

Two configurations of a target name with the same identity watch the same jobs, so the counts
go on (a changed poll interval or timeout does not matter); a different backend, endpoint, URL,
workspace, project or filters is another job list, which starts a new baseline. So are other
attribution settings: the counts are kept by other labels.

A target counts each list of jobs it polls (``kit.resources.JobResource``) in a ledger of its
own, kept in the state file under its own key and identity: its ``jobs`` under the target's
name and identity, as before there were others; another under ``<name>/<resource>`` (``/`` is
never in a target name) and the target's identity of that resource
(``Target.resource_identity``) with the resource in it.
"""

from __future__ import annotations

import hashlib
import json

from exporter.backends.kit.resources import JOBS
from exporter.config.types import Target


def ledger_key(name: str, resource: str = JOBS) -> str:
    """Where the ledger of job resource ``resource`` of target ``name`` is kept."""
    return name if resource == JOBS else f"{name}/{resource}"


def fingerprint(target: Target, resource: str = JOBS) -> str:
    """A short, stable digest of the settings that decide which jobs a target sees in job
    resource ``resource``; no secret goes into it (URLs lose their user info and query)."""
    if resource == JOBS:  # no resource in it: the identity of the jobs earlier versions saved
        identity = {"backend": target.backend, **target.identity()}
    else:
        identity = {"backend": target.backend, **target.resource_identity(resource)}
        identity["resource"] = resource
    if target.attribution.labels:  # none: the identity earlier versions saved
        attribution = target.attribution.model_dump(mode="json")
        # in their order: the counts are kept by label values in that order; each label by the
        # field it reads on this list (a label given per list changes only the lists it names)
        sources = target.attribution.sources(resource)
        attribution["labels"] = list(zip(target.attribution.labels, sources, strict=True))
        identity["attribution"] = attribution
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
