"""Hot reload by SIGHUP and by POST /-/reload: targets added and removed without a restart,
unchanged targets keep their counters, a bad configuration is refused."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.simulators.ray import RaySimulator

from .helpers import eventually, exporter_process, stop_with_sigterm, value


def write(path: Path, *targets: dict) -> None:
    path.write_text(yaml.safe_dump({"defaults": {"poll_interval": "1s"}, "targets": list(targets)}))


def scrape(base: str) -> bytes:
    return httpx.get(f"{base}/metrics", timeout=5).content


@pytest.mark.slow
def test_reload_by_signal_and_http(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    with RaySimulator() as one, RaySimulator() as two:
        one.add_job("a", status="RUNNING")
        two.add_job("b", status="RUNNING")
        write(config, one.target_config("one"))
        with exporter_process("--config.file", str(config), "--web.enable-lifecycle") as (
            process,
            base,
        ):
            one.set_status("a", "SUCCEEDED")  # counted after the baseline
            assert eventually(
                lambda: (
                    b'jobfleet_jobs_finished_total{target="one",backend="ray",phase="succeeded"'
                    in scrape(base)
                    and value(scrape(base), "jobfleet_jobs_finished_total", target="one") == 1
                )
            )

            # SIGHUP: a second target appears; the first keeps its poller and counters
            write(config, one.target_config("one"), two.target_config("two"))
            os.kill(process.pid, signal.SIGHUP)
            assert eventually(lambda: b'target="two"' in scrape(base))
            body = scrape(base)
            assert value(body, "jobfleet_jobs_finished_total", target="one") == 1
            assert value(body, "jobfleet_jobs", target="two", status="RUNNING") == 1
            assert value(body, "jobfleet_config_last_reload_successful") == 1

            # a broken configuration is refused, and the running one stays
            config.write_text("targets:\n- {name: one, backend: ray}\n")
            refused = httpx.post(f"{base}/-/reload", timeout=10)
            assert refused.status_code == 500 and "targets[0].url: required" in refused.text
            body = scrape(base)
            assert value(body, "jobfleet_config_last_reload_successful") == 0
            assert b'target="two"' in body

            # POST /-/reload: the second target goes away, the first still has its count
            write(config, one.target_config("one"))
            reloaded = httpx.post(f"{base}/-/reload", timeout=10)
            assert reloaded.status_code == 200, reloaded.text
            assert "1 removed or replaced" in reloaded.text
            body = scrape(base)
            assert b'target="two"' not in body
            assert value(body, "jobfleet_jobs_finished_total", target="one") == 1
            assert value(body, "jobfleet_config_last_reload_successful") == 1
            logs = stop_with_sigterm(process).decode()
    assert "configuration reload refused: targets[0].url: required" in logs
    assert "configuration reloaded" in logs
