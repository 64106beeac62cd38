"""KubeRay discovery without an exporter process: the configuration of a ``kuberay`` source,
and a source listing RayClusters from the Kubernetes API simulator on 127.0.0.1 (clusters that
appear, become ready, are suspended or deleted; the address chosen; the dashboard port; a
failing API keeping the last targets; bad and hostile objects left out and counted; pages,
namespaces and an expired ``continue``; the targets split between shards)."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.backends.kuberay.heads import dashboard_port
from exporter.cli import describe
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.discovery import Discovery, KubeRaySource
from exporter.polling.sharding import Shard, owner
from exporter.simulators.kuberay import KubeRaySimulator
from exporter.simulators.kuberay.raycluster import become_ready, suspend

from .helpers import free_port, loopback_server

TOKEN = "kuberay-demo-token"  # the simulator's
SHARED = ("team-a", "shared")
SHARED_NAME = "kuberay:shared-head-svc.team-a.svc:8265"


def source_config(sim: KubeRaySimulator, **kuberay: Any) -> dict[str, Any]:
    settings = {"url": sim.url, "credentials": {"token": TOKEN}, **kuberay}
    return {
        "discovery": [
            {"name": "kuberay", "kuberay": settings, "template": {"backend": "ray"}},
        ]
    }


def source_of(sim: KubeRaySimulator, **kuberay: Any) -> KubeRaySource:
    config = parse_config(source_config(sim, **kuberay))
    source = Discovery(config.discovery, config.defaults).sources[0]
    assert isinstance(source, KubeRaySource)
    return source


def targets(source: KubeRaySource) -> dict[str, str]:
    """Each target's name and URL."""
    return {item.target.name: item.target.url for item in source.found}  # type: ignore[attr-defined]


def errors(source: KubeRaySource) -> dict[str, int]:
    return {reason: count for reason, count in source.errors.items() if count}


def head_ports(*ports: tuple[str, int]) -> dict[str, Any]:
    """A pod template whose first container has ``ports`` (name, number)."""
    listed = [{"name": name, "containerPort": number} for name, number in ports]
    return {"spec": {"containers": [{"ports": listed}]}}


ZERO_PORT = head_ports(("dashboard", 0))


def problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(config)
    return caught.value.problems


def test_the_configuration_takes_a_kuberay_targets_access_settings(
    kuberay_sim: KubeRaySimulator,
) -> None:
    config = parse_config(source_config(kuberay_sim, namespaces=["team-a"]))
    kuberay = config.discovery[0].kuberay
    assert kuberay is not None
    assert (kuberay.address, kuberay.refresh_interval, kuberay.timeout) == ("service_dns", 30, 10)
    assert config.discovery[0].refresh_interval == 30
    line = describe(config).splitlines()[-1]
    assert line.startswith(f"discovery kuberay: kuberay url={kuberay_sim.url} namespaces=team-a ")
    assert "address=service_dns" in line and "Bearer token (from credentials.token)" in line
    assert "targets named kuberay:<service>.<namespace>.svc:<port>" in line
    assert TOKEN not in describe(config)


@pytest.mark.parametrize(
    ("kuberay", "problem"),
    [
        ({}, "discovery[0].kuberay: set one of url, in_cluster: true (the pod's own API server)"),
        (
            {"url": "http://k:6443", "in_cluster": True},
            "discovery[0].kuberay: set one of url, in_cluster: true (the pod's own API server) "
            "or kubeconfig; found url and in_cluster",
        ),
        ({"url": "http://k:6443", "address": "pod"}, "discovery[0].kuberay.address: Input"),
        ({"url": "http://k:6443", "namespaces": ["Team_A"]}, "discovery[0].kuberay.namespaces:"),
        ({"url": "http://k:6443", "label_selector": "a=b;c"}, "discovery[0].kuberay.label_sel"),
        ({"url": "http://k:6443", "paths": ["x"]}, "discovery[0].kuberay.paths: unknown key"),
        ({"url": "http://k:6443", "timeout": "10m"}, "discovery[0].kuberay.timeout: Input"),
    ],
)
def test_a_broken_kuberay_source_is_refused_naming_the_field(
    kuberay: dict[str, Any], problem: str
) -> None:
    source = {"name": "kuberay", "kuberay": kuberay, "template": {"backend": "ray"}}
    found = problems({"discovery": [source]})
    assert len(found) == 1 and found[0].startswith(problem), found


def test_one_kind_of_source() -> None:
    source = {
        "name": "k",
        "kuberay": {"url": "http://k:6443"},
        "file": {"paths": ["/x.json"]},
        "template": {"backend": "ray"},
    }
    assert problems({"discovery": [source]}) == [
        "discovery[0]: a source has one of file, http or kuberay (file and kuberay given)"
    ]


def test_ready_clusters_become_targets_and_leave_when_suspended_or_deleted(
    kuberay_sim: KubeRaySimulator,
) -> None:
    sim, store = kuberay_sim, kuberay_sim.api.store
    source = source_of(sim)
    assert not source.refresh() and source.ok and source.found == ()
    sim.create_ray_cluster(*SHARED, ready=False)
    assert not source.refresh() and targets(source) == {}  # not ready yet: no head to ask
    store.update("rayclusters", SHARED, lambda item: become_ready(item, sim.now()))
    assert source.refresh()
    assert targets(source) == {SHARED_NAME: "http://shared-head-svc.team-a.svc:8265"}
    [item] = source.found
    assert item.source == "kuberay" and item.target.backend == "ray"
    assert item.labels == (("namespace", "team-a"), ("raycluster", "shared"))
    sim.create_ray_cluster("team-b", "gpu")
    assert source.refresh() and len(source.found) == 2

    store.update("rayclusters", SHARED, lambda item: suspend(item, sim.now()))
    assert source.refresh() and list(targets(source)) == ["kuberay:gpu-head-svc.team-b.svc:8265"]

    def resumed(item: dict[str, Any]) -> None:
        item["spec"]["suspend"] = False
        become_ready(item, sim.now())

    store.update("rayclusters", SHARED, resumed)
    assert source.refresh() and SHARED_NAME in targets(source)  # back under the same name

    def deleting(item: dict[str, Any]) -> None:  # a finalizer holds it: still ready
        item["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:00Z"

    store.update("rayclusters", ("team-b", "gpu"), deleting)
    assert source.refresh() and list(targets(source)) == [SHARED_NAME]
    store.delete("rayclusters", SHARED)
    assert source.refresh() and source.found == ()
    assert source.ok and errors(source) == {}


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("service_dns", "http://shared-head-svc.team-a.svc:8265"),
        ("service_ip", "http://10.96.0.10:8265"),
        ("head_pod_ip", "http://[fd00::17]:8265"),
    ],
)
def test_the_address_polled_and_the_name_that_stays(
    kuberay_sim: KubeRaySimulator, address: str, url: str
) -> None:
    kuberay_sim.create_ray_cluster(*SHARED, pod_ip="fd00::17")
    source = source_of(kuberay_sim, address=address)
    source.refresh()
    assert targets(source) == {SHARED_NAME: url}


def test_a_head_without_the_ip_asked_for_is_left_out_and_counted_once(
    kuberay_sim: KubeRaySimulator, caplog: pytest.LogCaptureFixture
) -> None:
    kuberay_sim.create_ray_cluster(*SHARED, service_ip="None")  # a headless service
    kuberay_sim.create_ray_cluster("team-b", "gpu")
    source = source_of(kuberay_sim, address="service_ip")
    with caplog.at_level(logging.ERROR):
        source.refresh()
        source.refresh(force=True)
    assert list(targets(source)) == ["kuberay:gpu-head-svc.team-b.svc:8265"]
    assert errors(source) == {"target": 1} and not source.ok
    [line] = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert "RayCluster team-a/shared: status.head.serviceIP is not an IP address" in line


@pytest.mark.parametrize(
    ("head_group", "port"),
    [
        ({}, 8265),
        ({"rayStartParams": {"dashboard-port": "8300"}}, 8300),
        (
            {
                "rayStartParams": {"dashboard-port": "8300"},
                "template": head_ports(("dashboard", 9000)),
            },
            9000,
        ),
        ({"template": head_ports(("gcs", 6379))}, 8265),
        ({"rayStartParams": {"dashboard-port": "99999"}}, None),
        ({"rayStartParams": {"dashboard-port": "8265.5"}}, None),
        ({"rayStartParams": {"dashboard-port": True}}, None),
    ],
)  # fmt: skip
def test_the_dashboard_port(head_group: dict[str, Any], port: int | None) -> None:
    assert dashboard_port(head_group) == port


def test_the_dashboard_port_of_the_head_container_is_polled(
    kuberay_sim: KubeRaySimulator,
) -> None:
    kuberay_sim.create_ray_cluster(*SHARED, dashboard_port=18265)
    source = source_of(kuberay_sim, address="service_ip")
    source.refresh()
    assert targets(source) == {
        "kuberay:shared-head-svc.team-a.svc:18265": "http://10.96.0.10:18265"
    }


def test_a_failing_api_keeps_the_last_targets_and_logs_once_per_change(
    kuberay_sim: KubeRaySimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = kuberay_sim
    sim.create_ray_cluster(*SHARED)
    source = source_of(sim)
    source.refresh()
    kept = source.found
    sim.api.throttle_lists("rayclusters", 2)
    with caplog.at_level(logging.INFO):
        assert not source.refresh() and not source.ok and source.found == kept
        assert not source.refresh() and source.found == kept
        sim.api.tokens = {"rotated"}  # the token no longer accepted: 401
        source.refresh()
        assert errors(source) == {"http": 2, "auth": 1} and source.found == kept
        sim.api.tokens = {TOKEN}
        sim.create_ray_cluster("team-b", "gpu")
        assert source.refresh() and source.ok and len(source.found) == 2
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("exporter.discovery")]
    kept_lines = [line for line in lines if "keeping the 1 targets of its last good list" in line]
    assert len(kept_lines) == 2  # throttled (twice, logged once), then refused
    assert "HTTP 429" in kept_lines[0] and "HTTP 401" in kept_lines[1]
    assert sum("is usable again" in line for line in lines) == 1
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_an_api_server_that_does_not_answer(kuberay_sim: KubeRaySimulator) -> None:
    kuberay_sim.url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    source = source_of(kuberay_sim, timeout="2s")
    assert not source.refresh() and source.found == () and not source.ok
    assert errors(source) == {"connection": 1}
    assert source.last_success is None


def test_an_answer_echoing_the_token_is_logged_masked(caplog: pytest.LogCaptureFixture) -> None:
    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            message = f"token {self.headers['Authorization']} is not valid"
            body = json.dumps({"kind": "Status", "reason": "Unauthorized", "message": message})
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    secret = "planted-kuberay-echoed-token-2b8e"
    with loopback_server(Echo) as base, caplog.at_level(logging.DEBUG):
        sim = KubeRaySimulator()
        sim.url = base
        source = source_of(sim, credentials={"token": secret})
        assert not source.refresh() and errors(source) == {"auth": 1}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Unauthorized: token *** is not valid" in logged
    assert secret not in logged


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda item: item["metadata"].update(uid=""), "format"),
        (lambda item: item["status"]["head"].update(serviceName="evil.svc/x"), "target"),
        (lambda item: item["status"]["head"].update(serviceName="a" * 64), "target"),
        (lambda item: item["status"]["head"].update(serviceName="Bad\nName"), "target"),
        (lambda item: item["metadata"].update(namespace="team-a.evil"), "target"),
        (lambda item: item["metadata"].update(name="x\u202ey"), "labels"),
        (lambda item: item["metadata"].update(name="n" * 300), "labels"),
        (lambda item: item["spec"]["headGroupSpec"].update(template="not a template"), None),
        (lambda item: item["spec"]["headGroupSpec"].update(template=ZERO_PORT), "target"),
        (lambda item: item.update(status="ready"), None),
    ],
)  # fmt: skip
def test_a_bad_object_is_left_out_and_counted_once_per_version(
    kuberay_sim: KubeRaySimulator, change: Any, reason: str | None
) -> None:
    sim, store = kuberay_sim, kuberay_sim.api.store
    sim.create_ray_cluster(*SHARED)
    sim.create_ray_cluster("team-b", "gpu")
    source = source_of(sim)
    source.refresh()
    store.update("rayclusters", SHARED, change)
    source.refresh()
    source.refresh(force=True)
    others = {"kuberay:gpu-head-svc.team-b.svc:8265"}
    if reason is None:  # still a target (a port of its own), or no longer ready
        assert others <= set(targets(source)) and source.ok and errors(source) == {}
        return
    assert set(targets(source)) == others
    assert errors(source) == {reason: 1} and not source.ok
    store.update("rayclusters", SHARED, lambda item: item["metadata"].update(generation=2))
    source.refresh()
    # another version of it: counted again (one without a uid is told by the number of them)
    assert errors(source) == {reason: 1 if reason == "format" else 2}
    store.delete("rayclusters", SHARED)
    source.refresh()
    assert source.ok and set(targets(source)) == others


def test_two_clusters_naming_one_service_keep_the_first(kuberay_sim: KubeRaySimulator) -> None:
    sim = kuberay_sim
    sim.create_ray_cluster(*SHARED)
    sim.create_ray_cluster("team-a", "twin")
    sim.api.store.update(
        "rayclusters",
        ("team-a", "twin"),
        lambda item: item["status"]["head"].update(serviceName="shared-head-svc"),
    )
    source = source_of(sim)
    source.refresh()
    source.refresh()
    assert list(targets(source)) == [SHARED_NAME] and errors(source) == {"duplicate": 1}
    assert source.found[0].labels == (("namespace", "team-a"), ("raycluster", "shared"))


def test_pages_namespaces_and_an_expired_continue(kuberay_sim: KubeRaySimulator) -> None:
    sim = kuberay_sim
    for index in range(5):
        sim.create_ray_cluster("team-a", f"c{index}")
    sim.create_ray_cluster("team-b", "gpu")
    sim.create_ray_cluster("team-c", "hidden")
    compacted: list[int] = []

    def compact_once(resource: str, items: list[dict[str, Any]], deleted: bool) -> None:
        if resource == "rayclusters" and not compacted:  # after the first page: its token expires
            sim.create_ray_cluster("team-a", "late")
            sim.api.store.compact()
            compacted.append(1)

    sim.api.on_answer = compact_once
    source = source_of(sim, page_size=2, namespaces=["team-a", "team-b"])
    assert source.refresh() and source.ok
    assert sorted(item.labels[1][1] for item in source.found) == [
        "c0", "c1", "c2", "c3", "c4", "gpu", "late",
    ]  # fmt: skip
    asked = [(path, query) for path, query in sim.api.requests if "rayclusters" in path]
    assert {path for path, _ in asked} == {
        "/apis/ray.io/v1/namespaces/team-a/rayclusters",
        "/apis/ray.io/v1/namespaces/team-b/rayclusters",
    }
    assert all(query["limit"] == "2" for _, query in asked)
    assert sum("continue" in query for _, query in asked) >= 3
    assert errors(source) == {}


def test_a_list_past_the_page_cap_keeps_the_last_targets(kuberay_sim: KubeRaySimulator) -> None:
    for index in range(3):
        kuberay_sim.create_ray_cluster("team-a", f"c{index}")
    source = source_of(kuberay_sim, page_size=1, max_pages=2)
    assert not source.refresh() and source.found == ()
    assert errors(source) == {"incomplete": 1} and not source.ok


def test_targets_over_max_targets_are_cut(kuberay_sim: KubeRaySimulator) -> None:
    for index in range(3):
        kuberay_sim.create_ray_cluster("team-a", f"c{index}")
    config = source_config(kuberay_sim)
    config["discovery"][0]["max_targets"] = 2
    parsed = parse_config(config)
    source = Discovery(parsed.discovery, parsed.defaults).sources[0]
    source.refresh()
    assert len(source.found) == 2 and source.errors["limit"] == 1 and not source.ok


def test_the_targets_labels_are_on_target_info(kuberay_sim: KubeRaySimulator) -> None:
    kuberay_sim.create_ray_cluster(*SHARED)
    config = parse_config(source_config(kuberay_sim))
    discovery = Discovery(config.discovery, config.defaults)
    discovery.refresh(force=True)
    [item] = discovery.found()
    block = b"".join(discovery.block([item.target], {item.target.name: item}).values()).decode()
    assert (
        f'jobfleet_target_info{{target="{SHARED_NAME}",backend="ray",source="kuberay",'
        'namespace="team-a",raycluster="shared"} 1'
    ) in block
    assert 'jobfleet_discovery_errors_total{source="kuberay",reason="incomplete"} 0' in block


def test_shards_split_the_discovered_clusters(kuberay_sim: KubeRaySimulator) -> None:
    names = set()
    for index in range(6):
        kuberay_sim.create_ray_cluster("team-a", f"c{index}")
        names.add(f"kuberay:c{index}-head-svc.team-a.svc:8265")
    config = parse_config(source_config(kuberay_sim))
    polled = []
    for ordinal in (0, 1):
        exporter = Exporter(config, shard=Shard(ordinal, 2))
        try:
            polled.append({target.name for target in exporter.config.targets})
            assert polled[-1] == {name for name in names if owner(name, 2) == ordinal}
        finally:
            exporter.close()
    assert polled[0] | polled[1] == names and not polled[0] & polled[1]
