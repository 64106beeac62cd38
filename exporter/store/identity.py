"""A target's identity: what its counts are counts of.

Two configurations of a target name with the same identity watch the same jobs, so the counts
go on (a changed poll interval or timeout does not matter); a different backend, endpoint, URL,
workspace, project or filters is another job list, which starts a new baseline. So are other
attribution settings: the counts are kept by other labels.
"""

from __future__ import annotations

import hashlib
import json

from exporter.config.types import Target


def fingerprint(target: Target) -> str:
    """A short, stable digest of the settings that decide which jobs a target sees; no secret
    goes into it (URLs lose their user info and query)."""
    identity = {"backend": target.backend, **target.identity()}
    if target.attribution.labels:  # none: the identity earlier versions saved
        attribution = target.attribution.model_dump(mode="json")
        # in their order: the counts are kept by label values in that order
        attribution["labels"] = list(target.attribution.labels.items())
        identity["attribution"] = attribution
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
