"""Cluster cost: one ListRayCluster poll of 1,000 EMR clusters, through the simulator."""

from __future__ import annotations

import time

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator

from .common import table


def run(clusters: int = 1_000) -> str:
    with EmrServerlessSimulator() as sim:
        for i in range(clusters):
            sim.add_cluster(f"ray-{i:05d}", worker_groups=2)
        target = sim.target_config("bench", resources=["clusters"], requests_per_second=10_000)
        exporter = Exporter(parse_config({"targets": [target]}))
        poller = exporter.pollers[0]
        rows = []
        for label in ("first poll", "second poll"):
            sim.requests.clear()
            wall, cpu = time.monotonic(), time.process_time()
            assert poller.poll("clusters"), poller.health["clusters"].last_error
            rows.append(
                [
                    label,
                    len(sim.requests),
                    f"{time.monotonic() - wall:.2f}",
                    f"{time.process_time() - cpu:.2f}",
                ]
            )
        body = exporter.exposition.body()
        exporter.close()
    series = sum(1 for line in body.splitlines() if line.startswith(b"jobfleet_cluster"))
    return table(
        f"EMR clusters: {clusters:,} clusters, {series:,} cluster series, "
        f"{len(body) / 2**20:.1f} MiB exposition",
        ["poll", "requests", "wall s (both processes)", "CPU s (both processes)"],
        rows,
    )


if __name__ == "__main__":
    print(run())
