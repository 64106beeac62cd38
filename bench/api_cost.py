"""API cost: ListRayJob requests per EMR poll with 100k historical jobs and 100 active ones,
steady state beside a full re-list, counted at the simulator (signatures checked)."""

from __future__ import annotations

import time

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.simulators.emr_serverless import EmrServerlessSimulator

from .common import table


def run(history: int = 100_000, active: int = 100) -> str:
    now = time.time()
    with EmrServerlessSimulator() as sim:
        for i in range(history):
            sim.add_job(f"rj-{i:07d}", status="Succeeded", submit_time=now - 90 * 86400 + i * 60)
        running = [
            sim.add_job(f"rj-active-{i:03d}", status="Running", submit_time=now - 7200 + i * 60)
            for i in range(active)
        ]
        target = sim.target_config("bench", resources=["jobs"], requests_per_second=10_000)
        exporter = Exporter(parse_config({"targets": [{**target, "timeout": "5m"}]}))
        poller = exporter.pollers[0]

        def requests_of_one_poll() -> tuple[int, float]:
            sim.requests.clear()
            started = time.monotonic()
            assert poller.poll("jobs"), poller.health["jobs"].last_error
            return len(sim.requests), time.monotonic() - started

        full, full_s = requests_of_one_poll()
        steady, steady_s = requests_of_one_poll()
        for key in running[:5]:
            sim.set_job(key, status="Succeeded", cu_hours=1.0)
        for i in range(10):
            sim.add_job(f"rj-new-{i}", status="Submitted")
        busy, busy_s = requests_of_one_poll()
        exporter.close()
    return table(
        f"EMR ListRayJob requests per poll: {history:,} historical + {active} active jobs",
        ["poll", "requests", "seconds"],
        [
            ["first poll: full walk (= a full re-list)", full, f"{full_s:.2f}"],
            ["steady state, nothing changed", steady, f"{steady_s:.2f}"],
            ["steady state, 5 finished and 10 new", busy, f"{busy_s:.2f}"],
        ],
    )


if __name__ == "__main__":
    print(run())
