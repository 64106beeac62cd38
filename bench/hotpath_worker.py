"""One measurement of the hot path, run as a script with the code to measure first on
PYTHONPATH (this tree's or the previous design's ``exporter``): prints one JSON line.

python bench/hotpath_worker.py URL LISTING_FILE JOBS STATE_DIR
    # LISTING_FILE served at URL; LISTING_FILE.next replaces it before the last poll
python bench/hotpath_worker.py backends JOBS STATE_DIR   # EMR and ModelArts steady polls
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _written() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise KeyError("wchar")


def backends(jobs: int, state_dir: str) -> None:
    """CPU of a steady-state poll of an EMR and a ModelArts target holding ``jobs`` jobs (10%
    active), each served by its simulator in this process (its CPU is counted, alike for both
    designs); the median of 5 polls after the first two."""
    import statistics

    from exporter.app import Exporter

    parse_config = _parse_config()
    from exporter.simulators.emr_serverless import EmrServerlessSimulator
    from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator

    result = {}
    with EmrServerlessSimulator() as emr, ModelArtsLiteSimulator() as modelarts:
        now = time.time()
        for i in range(jobs):
            active = i < jobs // 10
            emr.add_job(
                status="Running" if active else "Succeeded",
                submit_time=now - 7200 + i * 0.01,
                end_time=None if active else now - 600,
            )
            modelarts.add_job(status="PROCESSING" if active else "FINISHED")
        for name, sim in (("emr", emr), ("modelarts", modelarts)):
            target = sim.target_config(name, resources=["jobs"])
            config = {"state_file": f"{state_dir}/{name}.json", "targets": [target]}
            exporter = Exporter(parse_config(config))
            poller = exporter.pollers[0]
            seconds = []
            for _ in range(7):
                cpu = time.process_time()
                assert poller.poll("jobs"), poller.health["jobs"].last_error
                seconds.append(time.process_time() - cpu)
            exporter.close()
            result[f"{name}_cpu"] = statistics.median(seconds[2:])
    print(json.dumps(result))


def _parse_config():
    """``parse_config`` of the tree this worker runs: this one's, or the previous design's,
    where the configuration was one module."""
    try:
        from exporter.config.parse import parse_config
    except ModuleNotFoundError:
        from exporter.config import parse_config
    return parse_config


def main() -> None:
    if sys.argv[1] == "backends":
        return backends(int(sys.argv[2]), sys.argv[3])
    url, listing, jobs, state_dir = sys.argv[1:5]
    jobs = int(jobs)
    from exporter.app import Exporter

    parse_config = _parse_config()

    target = {"name": "bench", "backend": "ray", "url": url, "resources": ["jobs"]}
    target["timeout"] = "5m"
    config = {"state_file": f"{state_dir}/state.json", "targets": [target]}
    exporter = Exporter(parse_config(config))
    poller = exporter.pollers[0]
    idle = _status("VmRSS")

    def poll() -> tuple[float, int]:
        cpu, wrote = time.process_time(), _written()
        assert poller.poll("jobs"), poller.health["jobs"].last_error
        return time.process_time() - cpu, _written() - wrote

    first, _ = poll()
    poll()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here: the peak of one poll
    steady_cpu, steady_written = poll()
    peak, rss = _status("VmHWM"), _status("VmRSS")
    os.replace(f"{listing}.next", listing)
    changed_cpu, changed_written = poll()
    exporter.close()
    print(
        json.dumps(
            {
                "first_cpu": first,
                "steady_cpu": steady_cpu,
                "changed_cpu": changed_cpu,
                "idle_rss": idle,
                "steady_rss": rss,
                "peak_rss": peak,
                "steady_written": steady_written,
                "changed_written": changed_written,
            }
        )
    )


if __name__ == "__main__":
    main()
