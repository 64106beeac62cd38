"""The protobuf exposition's encoder: the small one of ``exporter/exposition/protobuf.py``
beside the ``protobuf`` package building the same messages from client_model's reference
``metrics.proto`` (compiled by protoc, ``tests/reference_proto.py``), for one block of a Ray
target as a poll renders it; and what rendering protobuf beside the text formats costs a poll
and memory, beside not rendering it (as before a scrape asks for protobuf).

Both encoders get the same samples and give bytes the reference parses to equal messages. The
package is measured two ways: a Metric message per sample serialized alone (what a block must
keep to hand out bytes and to re-encode only the jobs that changed), and one MetricFamily per
family (one serialization per family, nothing kept per sample).
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from exporter.exposition import protobuf
from exporter.exposition.histogram import JOB_DURATION_BUCKETS, Histogram

from .common import ROOT, ingest, loaded_exporter, ray_listing, rss_bytes, table

BASE = (("target", "ray-prod"), ("backend", "ray"))
Gauges = list[tuple[str, tuple[tuple[str, str], ...], float]]  # family, labels, value


def block_samples(
    running: int,
) -> tuple[Gauges, list[tuple[tuple[tuple[str, str], ...], Histogram]]]:
    """What a poll renders for one Ray target with ``running`` running jobs: three per-job
    series each (info, status, submit time), the aggregates, and one duration histogram per
    phase with job_id exemplars."""
    gauges: Gauges = []
    for i in range(running):
        ident = (*BASE, ("job_id", f"raysubmit_{i:012d}"))
        info = (*ident, ("job_name", f"train-{i % 500}"), ("job_type", "SUBMISSION"))
        gauges.append(("jobfleet_job_info", info, 1.0))
        gauges.append(
            ("jobfleet_job_status", (*ident, ("phase", "running"), ("status", "RUNNING")), 1.0)
        )
        gauges.append(("jobfleet_job_submit_timestamp_seconds", ident, 1.8e9 + i))
    for phase in ("pending", "running", "succeeded", "failed", "cancelled"):
        gauges.append(("jobfleet_jobs", (*BASE, ("phase", phase), ("status", phase.upper())), 3.0))
    histograms = []
    for phase in ("succeeded", "failed", "cancelled"):
        histogram = Histogram(JOB_DURATION_BUCKETS)
        for n in range(40):
            histogram.observe(n * 97.0, f"raysubmit_{n:012d}", 1.8e9 + n)
        histograms.append(((*BASE, ("phase", phase)), histogram))
    return gauges, histograms


DURATION = "jobfleet_job_duration_seconds"


def _framed(by_family: dict[str, list[bytes]]) -> bytes:
    """Entries by family as a body: each family delimited behind its header."""
    parts: list[bytes] = []
    for name, entries in by_family.items():
        kind = "histogram" if name == DURATION else "gauge"
        parts.extend(protobuf.delimited(protobuf.family_header(name, "help", kind), entries))
    return b"".join(parts)


def ours(gauges: Gauges, histograms: list) -> bytes:
    """The exporter's encoder, as a block uses it: each sample an entry, joined by family."""
    by_family: dict[str, list[bytes]] = {}
    for name, labels, value in gauges:
        entry = protobuf.sample("gauge", protobuf.labels(labels), value)
        by_family.setdefault(name, []).append(entry)
    for labels, h in histograms:
        entry = protobuf.histogram(
            protobuf.labels(labels), h.count, h.total, h.cumulative(), h.exemplars
        )
        by_family.setdefault(DURATION, []).append(entry)
    return _framed(by_family)


def ours_shared(running: int, histograms: list) -> bytes:
    """``ours`` as a block and its job lines call it: the base labels encoded once, a job's
    identity once for its three series (the samples of ``block_samples``)."""
    base = protobuf.labels(BASE)
    info, status, submit = [], [], []
    running_status = protobuf.labels((("phase", "running"), ("status", "RUNNING")))
    for i in range(running):
        ident = base + protobuf.labels((("job_id", f"raysubmit_{i:012d}"),))
        names = protobuf.labels((("job_name", f"train-{i % 500}"), ("job_type", "SUBMISSION")))
        info.append(protobuf.sample("gauge", ident + names, 1.0))
        status.append(protobuf.sample("gauge", ident + running_status, 1.0))
        submit.append(protobuf.sample("gauge", ident, 1.8e9 + i))
    jobs = [
        protobuf.sample("gauge", base + protobuf.labels((("phase", p), ("status", p.upper()))), 3.0)
        for p in ("pending", "running", "succeeded", "failed", "cancelled")
    ]
    durations = [
        protobuf.histogram(
            base + protobuf.labels(labels[len(BASE) :]),
            h.count,
            h.total,
            h.cumulative(),
            h.exemplars,
        )
        for labels, h in histograms
    ]
    return _framed(
        {
            "jobfleet_job_info": info,
            "jobfleet_job_status": status,
            "jobfleet_job_submit_timestamp_seconds": submit,
            "jobfleet_jobs": jobs,
            DURATION: durations,
        }
    )


def _package_histogram(metric: object, h: Histogram) -> None:
    target = metric.histogram
    target.sample_count, target.sample_sum = h.count, h.total
    for index, (bound, count) in enumerate(h.cumulative()):
        example = h.exemplars[index] if h.exemplars is not None else None
        if bound == float("inf") and example is None:
            continue
        bucket = target.bucket.add(upper_bound=bound, cumulative_count=count)
        if example is not None:
            job_id, value, at = example
            bucket.exemplar.label.add(name="job_id", value=job_id)
            bucket.exemplar.value = value
            bucket.exemplar.timestamp.FromNanoseconds(int(at * 1e9))


def package(gauges: Gauges, histograms: list, per_sample: bool) -> bytes:
    """The ``protobuf`` package: Metric messages serialized one by one (``per_sample``) and
    framed as the block frames them, or one MetricFamily message per family."""
    from tests.reference_proto import message_class

    family_class, metric_class = message_class("MetricFamily"), message_class("Metric")
    families: dict[str, object] = {}
    entries: dict[str, list[bytes]] = {}

    def metric(name: str, kind: int) -> object:
        if per_sample:
            return metric_class()
        if name not in families:
            families[name] = family_class(name=name, help="help", type=kind)
        return families[name].metric.add()

    def keep(name: str, message: object) -> None:
        if per_sample:
            entries.setdefault(name, []).append(
                protobuf.field(b"\x22", message.SerializeToString())
            )

    for name, labels, value in gauges:
        message = metric(name, 1)
        for label, text in labels:
            message.label.add(name=label, value=text)
        message.gauge.value = value
        keep(name, message)
    for labels, h in histograms:
        message = metric(DURATION, 4)
        for label, text in labels:
            message.label.add(name=label, value=text)
        _package_histogram(message, h)
        keep(DURATION, message)
    if per_sample:
        return _framed(entries)
    serialized = [family.SerializeToString() for family in families.values()]
    return b"".join(protobuf.varint(len(data)) + data for data in serialized)


def _best_ms(encode: Callable[[], bytes], rounds: int = 7) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        size = len(encode())
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3, size


def encoders(running: int) -> list[list[object]]:
    from google.protobuf.internal import api_implementation

    from tests.reference_proto import parse_delimited

    gauges, histograms = block_samples(running)
    bodies = {
        "ours": lambda: ours(gauges, histograms),
        "ours, labels shared as a block shares them": lambda: ours_shared(running, histograms),
        f"protobuf package ({api_implementation.Type()}), Metric per sample": lambda: package(
            gauges, histograms, per_sample=True
        ),
        f"protobuf package ({api_implementation.Type()}), MetricFamily per family": lambda: package(
            gauges, histograms, per_sample=False
        ),
    }
    reference = parse_delimited(bodies["ours"]())
    rows = []
    samples = len(gauges) + len(histograms)
    baseline = None
    for name, encode in bodies.items():
        assert parse_delimited(encode()) == reference, name  # the same messages
        ms, size = _best_ms(encode)
        baseline = baseline or ms
        rows.append(
            [
                name,
                f"{samples:,}",
                f"{ms:.1f}",
                f"{ms * 1e3 / samples:.2f}",
                f"{ms / baseline:.2f}x",
                f"{size:,}",
            ]
        )
    return rows


def measure_polls(listing: Path, jobs: int, protobuf_wanted: bool) -> dict[str, float]:
    """In this process: the CPU of a first and of a steady poll (the listing again, unchanged)
    of ``jobs`` jobs, with protobuf rendered or not; RSS per tracked job after the first, the
    answer dropped (as ``bench/memory.py`` measures it)."""
    exporter = loaded_exporter(0, 0)
    exporter.exposition.wants_protobuf = protobuf_wanted
    raw = listing.read_bytes()  # counted in the idle RSS, as bench/memory.py counts it
    gc.collect()
    idle = rss_bytes()
    polls = []
    for _ in range(2):
        raw = raw or listing.read_bytes()
        started = time.process_time()
        ingest(exporter, raw, time.time())
        polls.append(time.process_time() - started)
        raw = b""
        gc.collect()
        if len(polls) == 1:
            per_job = (rss_bytes() - idle) / jobs
    return {"first": polls[0], "steady": polls[1], "per_job": per_job}


def poll_cost(jobs: int) -> list[list[object]]:
    """``measure_polls`` in fresh processes, at 1% and 40% of the jobs running: protobuf
    rendered (a scrape asked for it) beside not (no scrape did: the text formats only)."""
    rows = []
    for active in (jobs // 100, jobs * 2 // 5):
        with tempfile.NamedTemporaryFile(suffix=".json") as listing:
            listing.write(ray_listing(jobs, active, time.time()))
            listing.flush()
            got = {}
            for wanted in ("on", "off"):
                command = ["poll", listing.name, str(jobs), wanted]
                output = subprocess.run(
                    [sys.executable, "-m", "bench.protobuf_encoding", *command],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    timeout=600,
                    check=True,
                )
                got[wanted] = json.loads(output.stdout)
        on, off = got["on"], got["off"]
        rows.append(
            [
                f"{jobs:,} tracked, {active:,} running",
                f"{on['first']:.2f} / {off['first']:.2f} s",
                f"{on['steady']:.2f} / {off['steady']:.2f} s",
                f"{on['per_job']:,.0f} / {off['per_job']:,.0f} B",
            ]
        )
    return rows


def run(running: int = 10_000, jobs: int = 100_000) -> str:
    return "\n\n".join(
        [
            table(
                f"Protobuf encoding of one Ray target's block ({running:,} running jobs): "
                "median ms to encode it",
                ["encoder", "samples", "ms", "us per sample", "vs ours", "bytes"],
                encoders(running),
            ),
            table(
                "A poll with protobuf rendered (once a scrape asked for it) / without (text "
                "formats only), per_job_series=active: CPU of the first and of a steady poll "
                "(decode, reconcile, render), RSS per tracked job (target: <= 1024 B)",
                ["workload", "first poll", "steady poll", "RSS per tracked job"],
                poll_cost(jobs),
            ),
        ]
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["poll"]:
        print(json.dumps(measure_polls(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "on")))
    else:
        print(run(*(int(n) for n in sys.argv[1:])))
