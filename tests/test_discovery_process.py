"""Discovery through a real exporter process against Ray simulators on 127.0.0.1: a file_sd
file rewritten (add, remove, relabel, broken and kept at its last good version), counts
across a disappearance, a return and a restart, sharding of discovered targets, and an
http_sd endpoint the test serves (add, fail and keep, oversized and keep, remove)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.polling.sharding import owner
from exporter.simulators.ray import RaySimulator

from .helpers import eventually, exporter_process, samples, stop_with_sigterm, value
from .test_discovery_http import Endpoint, serving


def address(sim: RaySimulator) -> str:
    return sim.url.removeprefix("http://")


def name(sim: RaySimulator) -> str:
    return f"fleet:{address(sim)}"


def write_groups(path: Path, *groups: tuple[list[RaySimulator], dict[str, str]]) -> None:
    """The file_sd file, written beside and renamed over it, as a tool should."""
    document = [
        {"targets": [address(s) for s in sims], "labels": labels} for sims, labels in groups
    ]
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document))
    os.replace(temporary, path)


def write_config(path: Path, sd: Path, state: Path | None = None) -> None:
    config = {
        "defaults": {"poll_interval": "300ms"},
        "discovery": [
            {
                "name": "fleet",
                "file": {"paths": [str(sd.parent / "*.json")], "refresh_interval": "200ms"},
                "template": {"backend": "ray", "resources": ["jobs"]},
            }
        ],
        **({"state_file": str(state)} if state else {}),
    }
    path.write_text(yaml.safe_dump(config))


def scrape(base: str) -> bytes:
    return httpx.get(f"{base}/metrics", timeout=5).content


def finished(base: str, target: str) -> float | None:
    found = [
        v
        for (n, labels), v in samples(scrape(base)).items()
        if n == "jobfleet_jobs_finished_total" and ("target", target) in labels
    ]
    return sum(found) if found else None


def found(base: str, name_: str, **labels: str) -> float | None:
    """Sum of the samples of ``name_`` with ``labels``, None when there is none (yet)."""
    wanted = set(labels.items())
    hits = [v for (n, ls), v in samples(scrape(base)).items() if n == name_ and wanted <= ls]
    return sum(hits) if hits else None


def info_labels(base: str, target: str) -> dict[str, str] | None:
    for (n, labels), _ in samples(scrape(base)).items():
        if n == "jobfleet_target_info" and ("target", target) in labels:
            return dict(labels)
    return None


@pytest.mark.slow
def test_a_rewritten_file_moves_the_targets_and_counts_go_on(tmp_path: Path) -> None:
    sd, config, state = tmp_path / "sd" / "ray.json", tmp_path / "config.yaml", tmp_path / "state"
    sd.parent.mkdir()
    with RaySimulator() as one, RaySimulator() as two:
        one.add_job("a", status="RUNNING")
        one.add_job("b", status="RUNNING")
        two.add_job("c", status="RUNNING")
        write_groups(sd, ([one], {"env": "prod"}))
        write_config(config, sd, state)
        with exporter_process("--config.file", str(config)) as (process, base):
            assert info_labels(base, name(one)) == {
                "target": name(one),
                "backend": "ray",
                "source": "fleet",
                "env": "prod",
            }
            assert eventually(lambda: finished(base, name(one)) == 0)
            one.set_status("a", "SUCCEEDED")
            assert eventually(lambda: finished(base, name(one)) == 1)
            assert "<td>fleet</td>" in httpx.get(base, timeout=5).text

            # added: polled; relabelled: the label changes, the counts stay
            write_groups(sd, ([one], {"env": "staging"}), ([two], {}))
            assert eventually(
                lambda: found(base, "jobfleet_jobs", target=name(two), status="RUNNING")
            )
            assert eventually(lambda: (info_labels(base, name(one)) or {}).get("env") == "staging")
            assert info_labels(base, name(two)) == {
                "target": name(two),
                "backend": "ray",
                "source": "fleet",
            }
            assert finished(base, name(one)) == 1
            assert value(scrape(base), "jobfleet_discovery_targets", source="fleet") == 2

            # broken: the last good version stays, the error is counted once
            sd.write_text("[{")
            errors = {"source": "fleet", "reason": "format"}
            assert eventually(lambda: found(base, "jobfleet_discovery_errors_total", **errors))
            body = scrape(base)
            assert value(body, "jobfleet_discovery_refresh_successful", source="fleet") == 0
            assert value(body, "jobfleet_discovery_targets", source="fleet") == 2
            assert value(body, "jobfleet_discovery_errors_total", **errors) == 1

            # removed: gone from the metrics; a job ends meanwhile; back: counted once
            write_groups(sd, ([two], {}))
            assert eventually(lambda: info_labels(base, name(one)) is None)
            assert finished(base, name(one)) is None
            assert value(scrape(base), "jobfleet_discovery_refresh_successful", source="fleet")
            one.set_status("b", "FAILED")
            write_groups(sd, ([one, two], {}))
            assert eventually(lambda: finished(base, name(one)) == 2)
            logs = stop_with_sigterm(process).decode()
        assert "keeping the 2 targets of its last good version" in logs

        # a restart: the counts go on from the state file
        one.add_job("d", status="SUCCEEDED")  # finished while the exporter was down
        with exporter_process("--config.file", str(config)) as (process, base):
            assert eventually(lambda: finished(base, name(one)) == 3)
            assert finished(base, name(two)) == 0
            stop_with_sigterm(process)


@pytest.mark.slow
def test_two_shards_split_the_discovered_targets(tmp_path: Path) -> None:
    sd, config = tmp_path / "sd" / "ray.json", tmp_path / "config.yaml"
    sd.parent.mkdir()
    sims = [RaySimulator() for _ in range(4)]
    for sim in sims:
        sim.start()
    try:
        write_groups(sd, (sims, {}))
        write_config(config, sd)
        args = ("--config.file", str(config), "--total-shards", "2")
        with (
            exporter_process(*args, "--shard", "0") as (zero, base0),
            exporter_process(*args, "--shard", "1") as (one, base1),
        ):
            for shard, base in enumerate((base0, base1)):
                mine = {name(s) for s in sims if owner(name(s), 2) == shard}
                polled = {
                    dict(labels)["target"]
                    for (n, labels), _ in samples(scrape(base)).items()
                    if n == "jobfleet_target_info"
                }
                assert polled == mine
                # every shard reads the whole file
                assert value(scrape(base), "jobfleet_discovery_targets", source="fleet") == 4
            stop_with_sigterm(zero)
            stop_with_sigterm(one)
    finally:
        for sim in sims:
            sim.stop()


@pytest.mark.slow
def test_an_http_source_adds_and_removes_a_target(tmp_path: Path) -> None:
    endpoint, config = Endpoint(), tmp_path / "config.yaml"
    token = "planted-process-sd-token-41f7"
    with RaySimulator() as one, serving(endpoint) as sd:
        one.add_job("a", status="RUNNING")
        endpoint.answer([])
        source = {
            "name": "fleet",
            "http": {
                "url": f"{sd}/targets",
                "refresh_interval": "200ms",
                "credentials": {"token": token},
                "max_response_bytes": 4096,
            },
            "template": {"backend": "ray", "resources": ["jobs"]},
        }
        settings = {"defaults": {"poll_interval": "300ms"}, "discovery": [source]}
        config.write_text(yaml.safe_dump(settings))
        args = ("--config.file", str(config), "--log.level", "debug")
        with exporter_process(*args) as (process, base):
            assert value(scrape(base), "jobfleet_discovery_targets", source="fleet") == 0

            # added at the next refresh, with its group's labels
            endpoint.answer([{"targets": [address(one)], "labels": {"env": "prod"}}])
            assert eventually(lambda: (info_labels(base, name(one)) or {}).get("env") == "prod")
            assert eventually(
                lambda: found(base, "jobfleet_jobs", target=name(one), status="RUNNING")
            )

            # the endpoint fails: the target stays, the failure is counted
            endpoint.status, endpoint.body = 500, b"down"
            errors = {"source": "fleet", "reason": "http"}
            assert eventually(lambda: found(base, "jobfleet_discovery_errors_total", **errors))
            body = scrape(base)
            assert value(body, "jobfleet_discovery_refresh_successful", source="fleet") == 0
            assert info_labels(base, name(one)) is not None

            # an answer over max_response_bytes: refused, counted, the target stays
            many = [{"targets": [f"ray-{n}.example:8265"]} for n in range(200)]
            endpoint.answer(many)
            assert len(endpoint.body) > 4096
            too_large = {"source": "fleet", "reason": "too_large"}
            assert eventually(lambda: found(base, "jobfleet_discovery_errors_total", **too_large))
            assert info_labels(base, name(one)) is not None
            assert info_labels(base, "fleet:ray-0.example:8265") is None

            # removed: its series go
            endpoint.answer([])
            assert eventually(lambda: info_labels(base, name(one)) is None)
            assert found(base, "jobfleet_jobs", target=name(one)) is None
            body = scrape(base)
            assert value(body, "jobfleet_discovery_refresh_successful", source="fleet") == 1
            logs = stop_with_sigterm(process).decode()
    assert all(h["Authorization"] == f"Bearer {token}" for _, h in endpoint.requests)
    assert "keeping the 1 targets of its last good answer" in logs
    assert token not in logs
