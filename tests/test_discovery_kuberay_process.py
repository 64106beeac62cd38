"""A ``kuberay`` discovery source through a real exporter process: a RayCluster created in the
Kubernetes API simulator becomes a Ray target, polled at its head service's cluster IP (a Ray
simulator on 127.0.0.1, the port its head container names ``dashboard``), its jobs counted;
the API failing keeps it; the cluster deleted takes it away; ``--check-config`` lists the
source; the token is never shown."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from exporter.simulators.kuberay import KubeRaySimulator
from exporter.simulators.ray import RaySimulator

from .helpers import eventually, exporter_process, run_cli, stop_with_sigterm, value
from .test_discovery_process import finished, found, info_labels, scrape

TOKEN = "planted-kuberay-sd-token-9d3c"


def write_config(path: Path, api: KubeRaySimulator) -> None:
    source = {
        "name": "kuberay",
        "kuberay": {
            "url": api.url,
            "credentials": {"token": TOKEN},
            "address": "service_ip",
            "refresh_interval": "200ms",
        },
        "template": {"backend": "ray", "resources": ["jobs"]},
    }
    settings = {"defaults": {"poll_interval": "300ms"}, "discovery": [source]}
    path.write_text(yaml.safe_dump(settings))


@pytest.mark.slow
def test_a_raycluster_becomes_a_polled_ray_target(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    with KubeRaySimulator(token=TOKEN) as api, RaySimulator() as ray:
        ray.add_job("a", status="RUNNING")
        ray.add_job("b", status="RUNNING")
        port = int(ray.url.rsplit(":", 1)[1])
        name = f"kuberay:shared-head-svc.team-a.svc:{port}"
        write_config(config, api)

        checked = run_cli("--config.file", str(config), "--check-config")
        assert checked.returncode == 0, checked.stderr
        assert f"discovery kuberay: kuberay url={api.url} " in checked.stdout
        assert TOKEN not in checked.stdout + checked.stderr

        with exporter_process("--config.file", str(config)) as (process, base):
            assert value(scrape(base), "jobfleet_discovery_targets", source="kuberay") == 0
            api.create_ray_cluster("team-a", "shared", dashboard_port=port, service_ip="127.0.0.1")
            assert eventually(lambda: found(base, "jobfleet_jobs", target=name, status="RUNNING"))
            assert info_labels(base, name) == {
                "target": name,
                "backend": "ray",
                "source": "kuberay",
                "namespace": "team-a",
                "raycluster": "shared",
            }
            page = httpx.get(base, timeout=5).text
            assert f"<td>{name}</td>" in page and "<td>kuberay</td>" in page
            assert eventually(lambda: finished(base, name) == 0)
            ray.set_status("a", "SUCCEEDED")
            assert eventually(lambda: finished(base, name) == 1)

            # the API refuses: the target stays and is still polled
            api.api.tokens = {"rotated"}
            errors = {"source": "kuberay", "reason": "auth"}
            assert eventually(lambda: found(base, "jobfleet_discovery_errors_total", **errors))
            health = "jobfleet_discovery_refresh_successful"
            assert value(scrape(base), health, source="kuberay") == 0
            ray.set_status("b", "FAILED")
            assert eventually(lambda: finished(base, name) == 2)
            api.api.tokens = {TOKEN}

            # deleted: its series go
            api.api.store.delete("rayclusters", ("team-a", "shared"))
            assert eventually(lambda: info_labels(base, name) is None)
            assert found(base, "jobfleet_jobs", target=name) is None
            assert value(scrape(base), health, source="kuberay") == 1
            logs = stop_with_sigterm(process).decode()
    assert "keeping the 1 targets of its last good list" in logs
    assert TOKEN not in logs
