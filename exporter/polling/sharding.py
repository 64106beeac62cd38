"""Horizontal sharding: each of M replicas polls only the targets it owns.

Ownership is rendezvous hashing of the target name: stable across restarts and replicas, and
when M changes only the targets of the added or removed shard move.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from exporter.config.parse import Config

_ORDINAL = re.compile(r"-(\d+)$")


def owner(target: str, total: int) -> int:
    """The shard (0..total-1) that polls ``target``."""
    return max(range(total), key=lambda i: hashlib.sha256(f"{i}\0{target}".encode()).digest())


@dataclass(frozen=True)
class Shard:
    ordinal: int = 0
    total: int = 1

    def owns(self, target: str) -> bool:
        return self.total == 1 or owner(target, self.total) == self.ordinal

    def select(self, config: Config) -> Config:
        """The configuration with only this shard's targets."""
        if self.total == 1:
            return config
        mine = [target for target in config.targets if self.owns(target.name)]
        return config.model_copy(update={"targets": mine})


def shard_from(ordinal: int | None, total: int, hostname: str) -> Shard:
    """The shard from flags; without ``--shard``, the ordinal ends a StatefulSet pod name
    (``jobfleet-exporter-2``). Raises ValueError with a one-line reason."""
    if total < 1:
        raise ValueError("--total-shards must be at least 1")
    if ordinal is None:
        if total == 1:
            return Shard()
        match = _ORDINAL.search(hostname)
        if not match:
            raise ValueError(
                f"--shard not given and the host name {hostname!r} does not end in -<ordinal>"
            )
        ordinal = int(match.group(1))
    if not 0 <= ordinal < total:
        raise ValueError(f"shard {ordinal} is outside 0..{total - 1}")
    return Shard(ordinal, total)
