"""Targets that agree on their TLS settings share one SSL context, and those that also poll the
same origin one connection pool; closing a target lets go of its hold only."""

from __future__ import annotations

import time

from exporter.backends import create_backend
from exporter.config.parse import parse_config
from exporter.http.tls import TlsSettings
from exporter.http.transport import TRANSPORTS
from exporter.polling.health import ApiStats
from exporter.simulators.ray import RaySimulator


def test_targets_share_a_pool_per_tls_setting_and_closing_one_keeps_the_others() -> None:
    default, skip = TlsSettings(), TlsSettings(insecure_skip_verify=True)
    baseline = TRANSPORTS.users(default)
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
            assert (TRANSPORTS.users(default), TRANSPORTS.users(skip)) == (baseline + 50, 1)
            backends[0].close()
            backends[-1].close()
            assert (TRANSPORTS.users(default), TRANSPORTS.users(skip)) == (baseline + 49, 0)
            assert len(backends[1].list_jobs(time.monotonic() + 10).items) == 1
        finally:
            for backend in backends:
                backend.close()
    assert TRANSPORTS.users(default) == baseline


def test_each_origin_has_its_own_pool_under_one_ssl_context() -> None:
    """10,000 targets in one pool made every exchange scan every connection (quadratic in
    them): a pool holds only one origin's connections."""
    default = TlsSettings()
    baseline_users, baseline_pools = TRANSPORTS.users(default), TRANSPORTS.pools(default)
    with RaySimulator(seed=1) as one, RaySimulator(seed=2) as two:
        one.add_job("a")
        two.add_job("b")
        targets = [
            {"name": f"t{i}", "backend": "ray", "url": sim.url, "resources": ["jobs"]}
            for i, sim in enumerate([one, one, one, two])
        ]
        backends = [
            create_backend(target, ApiStats())
            for target in parse_config({"targets": targets}).targets
        ]
        try:
            for backend in backends:
                assert len(backend.list_jobs(time.monotonic() + 10).items) == 1
            assert TRANSPORTS.pools(default) == baseline_pools + 2
            assert TRANSPORTS.users(default) == baseline_users + 4
            backends[3].close()  # the last target of the second origin: its pool goes
            assert TRANSPORTS.pools(default) == baseline_pools + 1
            assert len(backends[0].list_jobs(time.monotonic() + 10).items) == 1
        finally:
            for backend in backends:
                backend.close()
    assert (TRANSPORTS.users(default), TRANSPORTS.pools(default)) == (
        baseline_users,
        baseline_pools,
    )
