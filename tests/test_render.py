import gzip
import hashlib

from exporter.app import process_block
from exporter.backends.ray import STATUSES
from exporter.exposition import families
from exporter.exposition.block import Block
from exporter.exposition.histogram import Histogram
from exporter.exposition.renderers.jobs import JobLines, render_jobs
from exporter.exposition.store import PROCESS_BLOCK, BlockKey, Exposition
from exporter.exposition.text import MARKER, escape, format_value
from exporter.ledger.job_ledger import JobLedger
from exporter.model import Job, Phase, status_pairs
from exporter.polling.sharding import Shard

from .helpers import promtool_check_metrics, samples

RAY_PAIRS = status_pairs(STATUSES)
BASE = (("target", "t1"), ("backend", "ray"))


def test_escape_quotes_backslashes_newlines_nul_and_caps_length() -> None:
    assert escape('a"b\\c\nde') == 'a\\"b\\\\c\\nde'
    nul = escape('a"b\\c\nd\x00e')  # NUL dropped, the marker and a hash added
    digest = hashlib.sha256(b'a"b\\c\nd\x00e').hexdigest()[:32]
    assert nul == f'a\\"b\\\\c\\nde{MARKER}{digest}'
    assert len(escape("x" * 10_000)) == 256


def test_values() -> None:
    assert [format_value(v) for v in (3, 2.0, 0.25, float("inf"), 1e20)] == [
        "3",
        "2",
        "0.25",
        "+Inf",
        "1e+20",
    ]


def test_histogram_lines_are_cumulative_with_sum_and_count() -> None:
    histogram = Histogram((1, 5))
    for v in (0.5, 1, 3, 7):
        histogram.observe(v)
    block = Block(BASE)
    block.add_histogram(families.JOB_QUEUE_WAIT_SECONDS, histogram)
    text = block.encode()["jobfleet_job_queue_wait_seconds"].decode()
    assert text.splitlines() == [
        'jobfleet_job_queue_wait_seconds_bucket{target="t1",backend="ray",le="1"} 2',
        'jobfleet_job_queue_wait_seconds_bucket{target="t1",backend="ray",le="5"} 3',
        'jobfleet_job_queue_wait_seconds_bucket{target="t1",backend="ray",le="+Inf"} 4',
        'jobfleet_job_queue_wait_seconds_sum{target="t1",backend="ray"} 11.5',
        'jobfleet_job_queue_wait_seconds_count{target="t1",backend="ray"} 4',
    ]


def test_families_from_several_targets_are_grouped_under_one_header() -> None:
    exposition = Exposition()
    for name in ("b", "a"):
        block = Block((("target", name), ("backend", "ray")))
        block.add(families.TARGET_UP, 1, (("resource", "jobs"),))
        block.add(families.JOBS_SUBMITTED_TOTAL, 2)
        exposition.update({BlockKey(name, "jobs"): block.encode()})
    text = exposition.body().decode()
    assert text.count("# TYPE jobfleet_target_up gauge") == 1
    lines = text.splitlines()
    up = [i for i, line in enumerate(lines) if line.startswith("jobfleet_target_up{")]
    assert up == [up[0], up[0] + 1]  # contiguous
    assert gzip.decompress(exposition.gzipped()) == exposition.body()


def hostile_ledger() -> JobLedger:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], 1e9)
    names = [
        'q"uote',
        "back\\slash",
        "new\nline",
        "nul\x00",
        "emoji 🚀",
        "bad \udcff utf8",
        "x" * 10_000,
    ]
    ledger.apply(
        [
            Job(key=f"k{i}", name=name, status="RUNNING", phase=Phase.RUNNING, submit_time=1e9)
            for i, name in enumerate(names)
        ],
        1e9 + 1,
    )
    return ledger


def test_hostile_job_names_render_to_valid_exposition() -> None:
    exposition = Exposition()
    exposition.update({PROCESS_BLOCK: process_block(True, 1e9, Shard())})
    block = Block(BASE)
    render_jobs(block, hostile_ledger().view(), "all")
    exposition.update({BlockKey("t1", "jobs"): block.encode()})
    body = exposition.body()
    parsed = samples(body)  # client_python's parser accepts it
    names = {dict(labels)["job_name"] for (n, labels) in parsed if n == "jobfleet_job_info"}
    assert 'q"uote' in names and "new\nline" in names and "emoji 🚀" in names
    result = promtool_check_metrics(body)
    assert result.returncode == 0, result.stdout + result.stderr


def test_jobs_gauge_is_precreated_for_every_known_status() -> None:
    ledger = JobLedger(RAY_PAIRS)
    ledger.apply([], 1e9)
    block = Block(BASE)
    render_jobs(block, ledger.view(), "active")
    parsed = samples(b"".join(block.encode().values()))
    statuses = {dict(ls)["status"] for (n, ls), v in parsed.items() if n == "jobfleet_jobs"}
    assert statuses == set(STATUSES)
    assert all(v == 0 for (n, _), v in parsed.items() if n == "jobfleet_jobs")


def test_unchanged_jobs_keep_their_rendered_lines_and_changed_ones_are_formatted_again() -> None:
    def listing(status_of_b: str) -> list[Job]:
        return [
            Job(key=key, name=key, status=status, phase=STATUSES[status], submit_time=100.0)
            for key, status in (("a", "RUNNING"), ("b", status_of_b))
        ]

    ledger, job_lines = JobLedger(RAY_PAIRS), JobLines()

    def publish(jobs: list[Job], now: float) -> dict[str, str]:
        ledger.apply(jobs, now)
        block = Block(BASE)
        render_jobs(block, ledger.view(), "active", job_lines)
        return {line.split('job_id="')[1][0]: line for line in block.lines(families.JOB_STATUS)}

    first = publish(listing("PENDING"), 1000.0)
    again = publish(listing("PENDING"), 1030.0)  # new records, equal to the last ones
    assert again == first
    assert all(again[key] is first[key] for key in "ab")  # not formatted again
    changed = publish(listing("RUNNING"), 1060.0)
    assert changed["a"] is first["a"]
    assert 'phase="running",status="RUNNING"' in changed["b"]
    assert changed["b"] != first["b"]
    assert list(publish(listing("SUCCEEDED"), 1090.0)) == ["a"]  # not active: no series
    assert ledger.finished[(Phase.SUCCEEDED, "SUCCEEDED", "", ())] == 1
