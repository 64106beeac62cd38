"""Users choose what they pay for: an allowlist or a denylist of family patterns, from the
command line or the configuration, shown through /metrics; health families always stay."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.app import Exporter
from exporter.config.parse import load_config, parse_config
from exporter.config.types import ConfigError
from exporter.exposition.declared import families
from exporter.exposition.selection import selected_families
from exporter.simulators.ray import RaySimulator

from .helpers import exporter_process, run_cli, serving

HEALTH = {name for name, family in families().items() if family.health}


def families_in(body: bytes) -> set[str]:
    return {line.split()[2] for line in body.decode().splitlines() if line.startswith("# TYPE")}


@pytest.mark.parametrize(
    ("allowlist", "denylist", "problem"),
    [
        (["jobfleet_jobs"], ["jobfleet_job_info"], "exclude each other"),
        (["jobfleet_(jobs"], [], "allowlist[0]: 'jobfleet_(jobs' is no pattern"),
        ([], ["jobfleet_jobs", "nothing_.*"], "denylist[1]: 'nothing_.*' matches no family"),
        ([], ["jobfleet_target_up"], "jobfleet_target_up cannot be turned off"),
        ([], ["jobfleet_.*"], "cannot be turned off"),
    ],
)
def test_a_list_that_cannot_mean_what_it_says_is_refused(allowlist, denylist, problem) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        selected_families(allowlist, denylist)


def test_an_allowlist_keeps_the_health_families_and_a_denylist_the_rest() -> None:
    allowed = selected_families(["jobfleet_jobs(_.*)?"])
    assert {"jobfleet_jobs", "jobfleet_jobs_finished_total"} <= allowed
    assert "jobfleet_job_info" not in allowed and "python_info" not in allowed
    assert allowed >= HEALTH
    denied = selected_families([], ["jobfleet_job_.*", "python_gc_.*"])
    assert "jobfleet_job_info" not in denied and "python_gc_collections_total" not in denied
    assert {"jobfleet_jobs", "python_info", *HEALTH} <= denied


def test_the_configuration_names_the_list_and_the_pattern(ray_sim: RaySimulator) -> None:
    config = {"metrics": {"denylist": ["nope"]}, "targets": [ray_sim.target_config("ray")]}
    with pytest.raises(ConfigError) as refused:
        parse_config(config)
    assert "metrics" in refused.value.problems[0]
    assert "denylist[0]: 'nope' matches no family" in refused.value.problems[0]


def test_the_flags_refuse_a_pattern_that_matches_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    target = {"name": "r", "backend": "ray", "url": "http://127.0.0.1:9"}
    config.write_text(yaml.safe_dump({"targets": [target]}))
    done = run_cli("--config.file", str(config), "--metric-allowlist", "jobfleet_nope", "--once")
    assert done.returncode == 2
    assert (
        "config error: --metric-allowlist/--metric-denylist: metric allowlist[0]: " in done.stderr
    )
    assert "'jobfleet_nope' matches no family" in done.stderr


def test_a_denylist_from_the_flags_leaves_families_out_of_metrics(
    tmp_path: Path, ray_sim: RaySimulator
) -> None:
    ray_sim.add_job("a", status="RUNNING")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"targets": [ray_sim.target_config("ray")]}))
    flags = ("--metric-denylist", "jobfleet_job_.*,python_gc_.*")
    with exporter_process("--config.file", str(config), *flags) as (_process, base):
        shown = families_in(httpx.get(f"{base}/metrics").content)
        openmetrics = httpx.get(
            f"{base}/metrics", headers={"Accept": "application/openmetrics-text"}
        ).content
    assert {"jobfleet_jobs", "jobfleet_target_up", "python_info"} <= shown
    assert not {name for name in shown if name.startswith(("jobfleet_job_", "python_gc_"))}
    assert b"jobfleet_job_info" not in openmetrics and b"python_gc" not in openmetrics


def test_an_allowlist_in_the_configuration_is_shown_and_a_reload_changes_it(
    tmp_path: Path, ray_sim: RaySimulator
) -> None:
    ray_sim.add_job("a", status="RUNNING")
    path = tmp_path / "config.yaml"
    target = ray_sim.target_config("ray")
    path.write_text(
        yaml.safe_dump({"metrics": {"allowlist": ["jobfleet_jobs"]}, "targets": [target]})
    )
    exporter = Exporter(load_config(path), lambda: load_config(path))
    try:
        exporter.poll_all_once()
        with serving(exporter) as base:
            before = families_in(httpx.get(f"{base}/metrics").content)
            path.write_text(yaml.safe_dump({"targets": [target]}))
            assert exporter.reload()[0]
            exporter.poll_all_once()
            after = families_in(httpx.get(f"{base}/metrics").content)
    finally:
        exporter.close()
    present_health = {name for name in HEALTH if name in after}
    assert before == {"jobfleet_jobs"} | present_health
    assert {"jobfleet_job_info", "jobfleet_jobs_by_type", "python_info"} <= after
