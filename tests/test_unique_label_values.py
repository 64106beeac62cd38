"""Identity labels stay unique: ids that collide once cut to 256 characters, or once a character
Prometheus cannot store is cleaned, or that read like a changed value, still render as distinct
label values (the marker and a hash of the original appended), polled over HTTP from the
simulators and read back by client_python and promtool."""

from __future__ import annotations

import hashlib

import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.exposition.text import DIGEST_LENGTH, MARKER, MAX_LABEL_VALUE_LENGTH, escape, storable
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.ray import RaySimulator

from .helpers import promtool_check_metrics, samples

PREFIX = "raysubmit_" + "x" * 290
NUL_DIGEST = hashlib.sha256(b"nul\x00").hexdigest()
COLLIDING_IDS = [
    *(f"{PREFIX}-{i}" for i in range(7)),  # share their first 300 characters
    "nul",  # ... and these differ only by a NUL, which cannot be stored
    "nul\x00",
    "nul\x00\x00",
    "\x00nul",
    "surrogate-?",  # ... or by a lone surrogate (which UTF-8 cannot carry) or what replaces it
    "surrogate-\ud800",
    "surrogate-\udc00",
    "surrogate-\udfff",
    "surrogate-\ufffd",
    "line\nfeed",  # ... or by what escaping writes
    "line\\nfeed",
    'quote"',
    'quote\\"',
    "中文" * 200,
    "中文" * 200 + "!",
    f"nul~{NUL_DIGEST[:8]}",  # ... or read like a changed value: "nul\x00" changed before
    f"nul{MARKER}{NUL_DIGEST[:DIGEST_LENGTH]}",  # ... and "nul\x00" changed now
    f"nul{MARKER}",
]
NEEDS_NO_CHANGE = [
    "nul",
    "surrogate-?",
    "surrogate-\ufffd",
    "line\nfeed",
    'quote\\"',
    "a" * 256,
    f"nul~{NUL_DIGEST[:8]}",
]


def test_values_that_need_no_change_are_unchanged() -> None:
    assert [storable(value) for value in NEEDS_NO_CHANGE] == NEEDS_NO_CHANGE


def test_changed_values_are_distinct_storable_capped_and_end_in_a_hash_of_the_original() -> None:
    stored = [storable(value) for value in COLLIDING_IDS]
    assert len(set(stored)) == len(COLLIDING_IDS)
    for original, value in zip(COLLIDING_IDS, stored, strict=True):
        assert len(value) <= MAX_LABEL_VALUE_LENGTH
        value.encode("utf-8")  # no surrogate left: strict UTF-8 encodes it
        assert "\x00" not in value
        if value != original:
            digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()
            assert value.endswith(MARKER + digest[:32]) and value.count(MARKER) == 1
    assert storable(COLLIDING_IDS[0]) == PREFIX[:223] + MARKER + storable(COLLIDING_IDS[0])[-32:]
    assert storable("nul\x00") == f"nul{MARKER}{NUL_DIGEST[:32]}"
    assert storable("surrogate-\ud800").startswith(f"surrogate-\ufffd{MARKER}")
    assert storable(f"nul{MARKER}").startswith(f"nul\ufffd{MARKER}")  # never two markers


@pytest.mark.parametrize("length", [256, 257, 10_000])
def test_cut_values_are_exactly_the_cap(length: int) -> None:
    value = storable("y" * length)
    assert len(value) == min(length, MAX_LABEL_VALUE_LENGTH)
    assert len(escape('"' * length)) <= 2 * MAX_LABEL_VALUE_LENGTH  # escaped after the cut


def test_colliding_job_and_cluster_ids_render_as_distinct_series_over_http() -> None:
    with RaySimulator() as ray, EmrServerlessSimulator() as emr:
        for key in COLLIDING_IDS:
            ray.add_job(key, status="RUNNING")
            emr.add_cluster(key, name="same name")
        targets = [
            ray.target_config("ray", resources=["jobs"], per_job_series="all"),
            emr.target_config("emr", resources=["clusters"]),
        ]
        exporter = Exporter(parse_config({"targets": targets}))
        try:
            assert exporter.poll_all_once()
        finally:
            exporter.close()
    body = exporter.exposition.body()
    parsed = samples(body)  # client_python's parser reads every line

    def ids(family: str, label: str) -> list[str]:
        return [dict(labels)[label] for (name, labels) in parsed if name == family]

    expected = sorted(storable(key) for key in COLLIDING_IDS)
    assert len(set(expected)) == len(set(COLLIDING_IDS)) == 25
    assert sorted(ids("jobfleet_job_info", "job_id")) == expected
    assert sorted(ids("jobfleet_job_status", "job_id")) == expected
    assert sorted(ids("jobfleet_cluster_info", "cluster_id")) == expected
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr
