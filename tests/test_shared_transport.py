"""Targets that agree on their TLS settings share one SSL context and connection pool; closing
a target lets go of its hold only."""

from __future__ import annotations

import time

from exporter.backends import ApiStats, create_backend
from exporter.backends.transport import TRANSPORTS
from exporter.config import parse_config
from exporter.simulators.ray import RaySimulator


def test_targets_share_a_pool_per_tls_setting_and_closing_one_keeps_the_others() -> None:
    baseline = len(TRANSPORTS)
    with RaySimulator(seed=1) as sim:
        sim.add_job("one")
        targets = [
            {"name": f"t{i}", "backend": "ray", "url": sim.url, "resources": ["jobs"]}
            for i in range(50)
        ]
        targets.append(
            {
                "name": "skip",
                "backend": "ray",
                "url": sim.url,
                "resources": ["jobs"],
                "tls": {"insecure_skip_verify": True},
            }
        )
        backends = [
            create_backend(target, ApiStats())
            for target in parse_config({"targets": targets}).targets
        ]
        try:
            for backend in backends:
                assert len(backend.list_jobs(time.monotonic() + 10).items) == 1
            assert len(TRANSPORTS) == baseline + 2  # the default settings, and skip-verify
            backends[0].close()
            backends[-1].close()
            assert len(TRANSPORTS) == baseline + 1
            assert len(backends[1].list_jobs(time.monotonic() + 10).items) == 1
        finally:
            for backend in backends:
                backend.close()
    assert len(TRANSPORTS) == baseline
