"""The ``metrics`` section: which families a scrape shows (``exposition.selection``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from exporter.config.types.values import Strict
from exporter.exposition.selection import selected_families


class MetricsSelection(Strict):
    """An allowlist or a denylist of family name patterns (regular expressions a whole name
    must match); neither shows every family. Health families are always shown."""

    allowlist: list[str] = Field(default_factory=list)
    denylist: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> MetricsSelection:
        self.shown()  # ValueError names the list, the pattern and why
        return self

    def shown(self) -> frozenset[str] | None:
        """The families shown; None for all."""
        if not self.allowlist and not self.denylist:
            return None
        return selected_families(self.allowlist, self.denylist)
