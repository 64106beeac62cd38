"""Bounding open-ended label values, so a backend cannot grow a metric's cardinality without end."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

OTHER = "other"


class LabelCap:
    """Admits the first ``cap`` distinct values of a label; any later one becomes ``other``."""

    def __init__(self, label: str, cap: int) -> None:
        self.label = label
        self.cap = cap
        self._admitted: set[str] = set()
        self._lock = threading.Lock()
        self._warned = False

    def __call__(self, value: str) -> str:
        if value in self._admitted:
            return value
        with self._lock:
            if len(self._admitted) < self.cap:
                self._admitted.add(value)
                return value
            if not self._warned:
                self._warned = True
                log.warning(
                    "more than %d distinct %s values: %r and later ones are exported as %r",
                    self.cap,
                    self.label,
                    value,
                    OTHER,
                )
        return OTHER
