"""``make bench``: every benchmark, each printing its table beside its baseline.

python -m bench.run [--quick]   # --quick: 1k and 10k jobs, 100 and 1k targets, for a smoke run

KubeRay runs at 10,000 RayJobs with 5 steady polls (1,000 and 3 with --quick), about 20 s;
``python -m bench.kuberay`` alone takes 10 steady polls, the figures of docs/performance.md.
Many targets take about 9 minutes (both designs, 100 to 10,000), the churn run 11 minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from . import (
    answer_memory,
    api_cost,
    churn,
    clusters,
    departed,
    hotpath,
    ingest,
    kuberay,
    memory,
    native_histograms,
    protobuf_encoding,
    scrape,
    targets,
    web_auth,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    jobs = 10_000 if args.quick else 100_000
    started = time.monotonic()
    print(
        f"jobfleet-exporter benchmarks - {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} - "
        f"{platform.python_implementation()} {platform.python_version()} - "
        f"{os.cpu_count()} CPUs - {platform.machine()}\n"
    )
    sections = (
        lambda: scrape.run((1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)),
        lambda: ingest.run((1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)),
        lambda: memory.run(jobs),
        lambda: answer_memory.run(8 * 2**20 if args.quick else 16 * 2**20),
        lambda: departed.run(jobs),
        lambda: native_histograms.run(),
        lambda: hotpath.run(jobs),
        lambda: protobuf_encoding.run(jobs // 10, jobs),
        lambda: api_cost.run(jobs, 100),
        lambda: clusters.run(1_000),
        lambda: kuberay.run(1_000, 3) if args.quick else kuberay.run(10_000, 5),
        lambda: targets.run((100, 1_000) if args.quick else (100, 1_000, 10_000)),
        lambda: churn.run(2, 200, 400) if args.quick else churn.run(),
        lambda: web_auth.run(),
    )
    for section in sections:
        print(section(), end="\n\n", flush=True)
    print(f"all benchmarks: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
