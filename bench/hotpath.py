"""The hot path at 100k Ray jobs (20% running, state_file on), beside the previous design.

Each design runs in its own process (``bench/hotpath_worker.py``) against a job list served
from a file by another process: the code of this tree, and the previous design's (commit
``PREVIOUS_COMMIT``: the whole answer decoded into a generic JSON tree, every job reconciled
and formatted at every poll, the whole JSON state file rewritten and fsynced at every save),
exported by ``git archive`` and run with the same interpreter. Measured: CPU of a steady-state
poll (the list unchanged) and of a poll where 1% of the jobs finished, RSS at the peak of a
poll and after it, RSS per tracked job (the steady RSS less the RSS before the first poll), and
the bytes the process wrote (``wchar``) in each poll."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT, ray_listing, table

BACKEND_JOBS = 2_000  # EMR and ModelArts jobs per target, 10% active
PREVIOUS_COMMIT = "7e6506ae28766d82fd335b210cf13bb127408a62"


def _previous_code(directory: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS_COMMIT, "exporter"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return directory


def measure(code: Path, jobs: int, active: int, work: Path) -> dict:
    listing, state = work / "jobs.json", work / "state"
    state.mkdir()
    # Written here, so that no answer was ever built in the measured process.
    now = time.time()
    answer = listing.write_bytes(ray_listing(jobs, active, now))
    Path(f"{listing}.next").write_bytes(ray_listing(jobs, active - jobs // 100, now))
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.listing_server", str(listing)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = server.stdout.readline().split()[1]
        worker = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "hotpath_worker.py"),
                f"http://127.0.0.1:{port}",
                str(listing),
                str(jobs),
                str(state),
            ],
            env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        server.kill()
        server.wait(timeout=10)
    if worker.returncode != 0:
        raise RuntimeError(f"hot path worker failed: {worker.stderr[-2000:]}")
    return json.loads(worker.stdout.strip().splitlines()[-1]) | {"answer": answer}


def measure_backends(code: Path, jobs: int, work: Path) -> dict:
    """EMR and ModelArts steady-state polls (``hotpath_worker.backends``) with ``code``."""
    work.mkdir()
    worker = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "hotpath_worker.py"),
            "backends",
            f"{jobs}",
            f"{work}",
        ],
        env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if worker.returncode != 0:
        raise RuntimeError(f"hot path worker failed: {worker.stderr[-2000:]}")
    return json.loads(worker.stdout.strip().splitlines()[-1])


def run(jobs: int = 100_000) -> str:
    active = jobs // 5
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        (work / "this").mkdir()
        (work / "previous").mkdir()
        (work / "code").mkdir()
        ours = measure(ROOT, jobs, active, work / "this")
        previous = _previous_code(work / "code")
        before = measure(previous, jobs, active, work / "previous")
        ours |= measure_backends(ROOT, BACKEND_JOBS, work / "this-backends")
        before |= measure_backends(previous, BACKEND_JOBS, work / "previous-backends")
    mib = 1024 * 1024

    def row(name: str, key: str, unit: str, goal: str) -> list[object]:
        scale = {"s": 1, "MiB": mib, "KB": 1000}[unit]
        return [
            name,
            f"{ours[key] / scale:,.2f} {unit}",
            f"{before[key] / scale:,.2f} {unit}",
            goal,
        ]

    per_job = {
        d: (r["steady_rss"] - r["idle_rss"]) / jobs for d, r in (("this", ours), ("prev", before))
    }
    ratio = {d: r["peak_rss"] / r["steady_rss"] for d, r in (("this", ours), ("prev", before))}
    rows = [
        row("CPU of a steady-state poll", "steady_cpu", "s", "<= 0.5 s"),
        row("CPU of a poll, 1% of jobs finished", "changed_cpu", "s", ""),
        row("CPU of the first poll", "first_cpu", "s", ""),
        row("RSS after a poll", "steady_rss", "MiB", ""),
        row("RSS at the peak of a poll", "peak_rss", "MiB", ""),
        ["peak / steady RSS", f"{ratio['this']:.2f}x", f"{ratio['prev']:.2f}x", "<= 1.3x"],
        [
            "RSS per tracked job",
            f"{per_job['this']:,.0f} B",
            f"{per_job['prev']:,.0f} B",
            "<= 1024 B",
        ],
        row("written by a steady-state poll", "steady_written", "KB", ""),
        row("written by a poll, 1% of jobs finished", "changed_written", "KB", "<= 200 KB"),
        row(f"CPU of a steady EMR poll, {BACKEND_JOBS:,} jobs", "emr_cpu", "s", "no slower"),
        row(
            f"CPU of a steady ModelArts poll, {BACKEND_JOBS:,} jobs",
            "modelarts_cpu",
            "s",
            "no slower",
        ),
    ]
    return table(
        f"Hot path: {jobs:,} Ray jobs ({ours['answer'] / 1e6:.0f} MB job list), {active:,} running,"
        " state_file on",
        ["measure", "this", f"previous ({PREVIOUS_COMMIT[:7]})", "goal"],
        rows,
    )


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
