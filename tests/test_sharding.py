"""Horizontal sharding: 9 targets over 3 shards, each polled by exactly one, and the union of
the shards' outputs equal to one unsharded exporter's."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from exporter.polling.sharding import owner, shard_from
from exporter.simulators.ray import RaySimulator

from .helpers import ROOT, samples

# Series that describe the process or a moment, not the targets' data.
PROCESS_OR_TIMING = (
    "jobfleet_build_info",
    "jobfleet_shard_ordinal",
    "jobfleet_total_shards",
    "jobfleet_config_last_reload",
    "jobfleet_poll_duration_seconds",
    "jobfleet_api_request_duration_seconds",
    "jobfleet_poll_last_success_timestamp_seconds",
)


def once(config: Path, *flags: str) -> bytes:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(config), "--once", *flags],
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def target_data(body: bytes) -> dict:
    return {key: v for key, v in samples(body).items() if not key[0].startswith(PROCESS_OR_TIMING)}


@pytest.mark.slow
def test_nine_targets_over_three_shards(tmp_path: Path) -> None:
    with ExitStack() as stack:
        sims = [stack.enter_context(RaySimulator(seed=i)) for i in range(9)]
        for i, sim in enumerate(sims):
            for j in range(i + 1):
                sim.add_job(f"j{j}", status=("RUNNING", "SUCCEEDED", "FAILED")[j % 3])
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {"targets": [sim.target_config(f"target-{i}") for i, sim in enumerate(sims)]}
            )
        )
        polled_by: dict[int, list[int]] = {i: [] for i in range(9)}
        union: dict = {}
        for shard in range(3):
            for sim in sims:
                sim.requests.clear()
            body = once(config, "--shard", str(shard), "--total-shards", "3")
            assert b"jobfleet_total_shards 3" in body
            assert f"jobfleet_shard_ordinal {shard}".encode() in body
            for i, sim in enumerate(sims):
                if sim.requests:
                    polled_by[i].append(shard)
            data = target_data(body)
            assert not set(data) & set(union), "a series came from two shards"
            union.update(data)
        unsharded = target_data(once(config))
    assert all(len(shards) == 1 for shards in polled_by.values()), polled_by
    assert {s for shards in polled_by.values() for s in shards} == {0, 1, 2}  # all shards work
    assert union == unsharded
    assert len(unsharded) > 100


def test_ownership_is_stable_and_moves_little_when_shards_change() -> None:
    names = [f"target-{i}" for i in range(300)]
    assert [owner(n, 3) for n in names] == [owner(n, 3) for n in names]
    counts = [sum(owner(n, 3) == s for n in names) for s in range(3)]
    assert min(counts) > 60  # spread
    moved = sum(owner(n, 3) != owner(n, 4) for n in names)
    assert moved < 120  # only what the new shard takes (~1/4), not a reshuffle


def test_shard_from_flags_and_statefulset_host_names() -> None:
    assert shard_from(None, 3, "jobfleet-exporter-2").ordinal == 2
    assert shard_from(1, 3, "anything").ordinal == 1
    assert shard_from(None, 1, "host").total == 1
    for ordinal, total, host in ((None, 3, "laptop"), (3, 3, "x"), (None, 3, "web-7"), (0, 0, "x")):
        with pytest.raises(ValueError):
            shard_from(ordinal, total, host)
