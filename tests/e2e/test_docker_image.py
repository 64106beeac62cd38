"""The container image, built from the repository's Dockerfile on a private Docker engine: it
serves the demo to the host as a non-root user under a read-only root filesystem, reports
healthy through its own HEALTHCHECK, keeps its state file on a volume across a restart, and
stops cleanly on SIGTERM. And it runs the pod the Helm chart renders: the chart's args (through
the image's ENTRYPOINT), config, secret files, mount paths and security context, and a sharded
pod's shard taken from its StatefulSet pod name."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from exporter import __version__
from exporter.backends import registry
from exporter.config.parse import parse_listen_address
from exporter.demo import demo_target_name
from exporter.polling.sharding import owner
from exporter.simulators.ray import RaySimulator
from exporter.store.rows import read_state

from ..helpers import (
    ROOT,
    eventually,
    free_port,
    need,
    promtool_check_metrics,
    samples,
    value,
)
from ..test_helm_chart import only, render, rendered_config
from .dockerd import DockerEngine, missing_tools

pytestmark = pytest.mark.e2e

IMAGE = "jobfleet-exporter:e2e"
REVISION = "0123456789abcdef0123456789abcdef01234567"  # what a release passes: the commit
UID = 65532
STATE_DIR = "/var/lib/jobfleet-exporter"
# The hardening a careful operator adds; the image must work under all of it.
HARDENED = ("--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges", "--network=host")


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    missing = missing_tools()
    need(not missing, f"missing {', '.join(missing)} (scripts/install-tools.sh installs them)")
    need(os.geteuid() == 0, "dockerd needs root")
    try:
        with DockerEngine() as engine:
            yield engine
    except RuntimeError as err:
        need(False, f"no Docker engine: {err}")


@pytest.fixture(scope="module")
def image(engine: DockerEngine) -> str:
    base = engine.base_image()
    engine.docker(
        "build",
        "--quiet",
        "--network=host",  # no bridge here: pip in the build uses the host's network
        f"--build-arg=BASE_IMAGE={base}",
        f"--build-arg=VERSION={__version__}",
        f"--build-arg=REVISION={REVISION}",
        f"--tag={IMAGE}",
        str(ROOT),
        timeout=900,
    )
    return IMAGE


@contextlib.contextmanager
def container(engine: DockerEngine, *args: str) -> Iterator[str]:
    """``docker run -d ARGS``; yield the container id; remove it (and its anonymous volumes)."""
    cid = engine.docker("run", "--detach", *args).stdout.strip()
    try:
        yield cid
    finally:
        engine.docker("rm", "--force", "--volumes", cid, check=False)


def inspect(engine: DockerEngine, ref: str) -> dict:
    return json.loads(engine.docker("inspect", ref).stdout)[0]


def process_ids(pid: int) -> tuple[int, int]:
    """The real UID and GID of a host process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        fields[key] = rest.split()
    return int(fields["Uid"][0]), int(fields["Gid"][0])


def logs(engine: DockerEngine, cid: str) -> str:
    result = engine.docker("logs", cid, check=False)
    return (result.stdout + result.stderr)[-3000:]


def ready(engine: DockerEngine, cid: str, base: str, timeout: float = 60) -> None:
    """Wait for /readyz to answer 200; fail with the log as soon as the container has exited."""

    def answers() -> bool:
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        return False

    def settled() -> bool:
        return answers() or not inspect(engine, cid)["State"]["Running"]

    if not (eventually(settled, timeout) and answers()):
        pytest.fail(f"the container never became ready; its log:\n{logs(engine, cid)}")


def test_image_metadata(engine: DockerEngine, image: str) -> None:
    config = inspect(engine, image)["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["jobfleet-exporter"]
    assert "9760/tcp" in config["ExposedPorts"]
    assert STATE_DIR in config["Volumes"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.revision"] == REVISION
    assert labels["org.opencontainers.image.title"] == "jobfleet-exporter"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    # The runtime venv carries no installer: pip stayed in the build stage.
    listing = engine.docker("run", "--rm", "--entrypoint=ls", image, "/opt/jobfleet-exporter/bin")
    assert "jobfleet-exporter" in listing.stdout.split()
    assert "pip" not in listing.stdout.split()


def test_demo_serves_metrics_to_the_host_as_non_root(engine: DockerEngine, image: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with container(
        engine,
        *HARDENED,
        f"--env=JOBFLEET_HEALTHCHECK_URL={base}/healthz",
        "--health-interval=1s",
        image,
        "--demo",
        f"--web.listen-address=127.0.0.1:{port}",
    ) as cid:
        ready(engine, cid, base)
        body = httpx.get(f"{base}/metrics", timeout=10).content
        assert value(body, "jobfleet_build_info", version=__version__, revision=REVISION) == 1
        for target in map(demo_target_name, registry.names()):
            assert value(body, "jobfleet_target_up", target=target, resource="jobs") == 1
        assert promtool_check_metrics(body).returncode == 0

        state = inspect(engine, cid)["State"]
        assert process_ids(state["Pid"]) == (UID, UID), "the exporter must not run as root"
        assert eventually(
            lambda: inspect(engine, cid)["State"]["Health"]["Status"] == "healthy", 30
        ), inspect(engine, cid)["State"]["Health"]


def write_config(directory: Path, ray_url: str, port: int) -> None:
    config = {
        "web": {"listen_address": f"127.0.0.1:{port}"},
        "state_file": f"{STATE_DIR}/state.json",
        "targets": [
            {"name": "ray-docker", "backend": "ray", "url": ray_url, "poll_interval": "1s"},
        ],
    }
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(config))


def test_state_on_a_volume_survives_a_restart(
    engine: DockerEngine, image: str, ray_sim: RaySimulator, tmp_path: Path
) -> None:
    """Default command, config mounted read-only, state on a host directory: a job that finishes
    while the container is stopped is counted by the next one, once, after the first's count."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write_config(tmp_path / "config", ray_sim.url, port)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, UID, UID)
    run = (
        *HARDENED,
        f"--volume={tmp_path / 'config'}:/etc/jobfleet-exporter:ro",
        f"--volume={state}:{STATE_DIR}",
        f"--env=JOBFLEET_HEALTHCHECK_URL={base}/healthz",
        image,
    )

    def finished() -> float:
        body = httpx.get(f"{base}/metrics", timeout=10).content
        return value(body, "jobfleet_jobs_finished_total", target="ray-docker", phase="succeeded")

    ray_sim.add_job("before", status="SUCCEEDED")  # finished before the baseline: not counted
    ray_sim.add_job("first", status="RUNNING")
    ray_sim.add_job("second", status="RUNNING")
    with container(engine, *run) as cid:
        ready(engine, cid, base)
        assert finished() == 0
        ray_sim.set_status("first", "SUCCEEDED")
        assert eventually(lambda: finished() == 1, 20), logs(engine, cid)
        saved = state / "state.json"
        assert eventually(saved.exists, 10)
        assert saved.stat().st_uid == UID
        engine.docker("stop", "--time=20", cid, timeout=60)
        assert inspect(engine, cid)["State"]["ExitCode"] == 0, logs(engine, cid)

    ray_sim.set_status("second", "SUCCEEDED")  # while no exporter runs
    with container(engine, *run) as cid:
        ready(engine, cid, base)
        assert eventually(lambda: finished() == 2, 20), logs(engine, cid)
        assert finished() == 2
        assert "ray-docker" in read_state(state / "state.json")["targets"]


# --- the pod the Helm chart renders, run by the image -----------------------------------------
#
# The chart sets only the container's args (the image's ENTRYPOINT must run them), mounts its
# ConfigMap and Secret at fixed paths, and locks the pod down; the image must work with exactly
# that. Each rendered setting below becomes the `docker run` option that does the same, and a
# setting this does not know how to carry over fails the test rather than being dropped.

RAY_TOKEN = "ray-t0ken-from-the-chart-secret"
TOKEN_KEY = "ray-token"
# Pod and container securityContext keys carried over to `docker run` (see hardening()).
POD_CONTEXT_KEYS = {
    "runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "fsGroupChangePolicy", "seccompProfile",
}  # fmt: skip
CONTAINER_CONTEXT_KEYS = {
    "runAsNonRoot", "runAsUser", "runAsGroup", "readOnlyRootFilesystem",
    "allowPrivilegeEscalation", "capabilities", "seccompProfile",
}  # fmt: skip


@pytest.fixture
def ray_with_token() -> Iterator[RaySimulator]:
    """A Ray dashboard that wants a bearer token, as a real one with token auth does."""
    with RaySimulator(auth_token=RAY_TOKEN) as simulator:
        yield simulator


def helm_values(targets: list[dict], *more: str) -> tuple[str, ...]:
    return ("--set-json", f"config.targets={json.dumps(targets)}", *more)


def pod_of(docs: list[dict], kind: str) -> tuple[str, dict, dict]:
    """The workload's name, its pod spec and the spec of its one container."""
    workload = only(docs, kind)
    pod = workload["spec"]["template"]["spec"]
    (spec,) = pod["containers"]
    return workload["metadata"]["name"], pod, spec


def hardening(pod: dict, spec: dict) -> tuple[list[str], int | None]:
    """`docker run` options for the rendered securityContexts; also the fsGroup."""
    pod_context = pod.get("securityContext", {})
    context = spec.get("securityContext", {})
    assert set(pod_context) <= POD_CONTEXT_KEYS, set(pod_context) - POD_CONTEXT_KEYS
    assert set(context) <= CONTAINER_CONTEXT_KEYS, set(context) - CONTAINER_CONTEXT_KEYS
    merged = {**pod_context, **context}  # as in Kubernetes, the container's settings win
    uid = merged["runAsUser"]
    if merged.get("runAsNonRoot"):
        assert uid != 0, "runAsNonRoot with runAsUser 0: the kubelet would refuse the pod"
    options = [f"--user={uid}:{merged.get('runAsGroup', uid)}"]
    fs_group = pod_context.get("fsGroup")
    if fs_group is not None:  # the kubelet adds it to the process' groups
        options.append(f"--group-add={fs_group}")
    if merged.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    capabilities = merged.get("capabilities", {})
    options += [f"--cap-drop={cap}" for cap in capabilities.get("drop", [])]
    options += [f"--cap-add={cap}" for cap in capabilities.get("add", [])]
    if merged.get("allowPrivilegeEscalation") is False:
        options.append("--security-opt=no-new-privileges")
    # RuntimeDefault is the engine's default seccomp profile, which docker run applies unasked.
    assert merged.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}
    # fsGroupChangePolicy only says when the kubelet re-owns volumes: volumes() owns them.
    return options, fs_group


def volumes(
    docs: list[dict], pod: dict, spec: dict, fs_group: int | None, root: Path
) -> tuple[list[str], dict[str, Path]]:
    """`--volume` options giving each rendered volumeMount its content at its mountPath, the way
    the kubelet does: ConfigMap and Secret keys as files (owner root, the volume's defaultMode;
    with an fsGroup, group fsGroup and readable by it), emptyDirs as empty world-writable
    directories (setgid fsGroup). Also {mountPath: host dir}."""
    by_name = {volume["name"]: volume for volume in pod["volumes"]}
    objects = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    group = 0 if fs_group is None else fs_group
    readable = 0 if fs_group is None else 0o440  # the kubelet's mask for read-only volumes
    options, directories = [], {}
    for mount in spec["volumeMounts"]:
        volume = by_name[mount["name"]]
        directory = root / mount["name"]
        directory.mkdir()
        if "configMap" in volume:
            source = volume["configMap"]
            data = objects["ConfigMap", source["name"]]["data"]
            files = {key: text.encode() for key, text in data.items()}
        elif "secret" in volume:
            source = volume["secret"]
            data = objects["Secret", source["secretName"]]["data"]
            files = {key: base64.b64decode(encoded) for key, encoded in data.items()}
        elif "emptyDir" in volume:
            source, files = {}, {}
            os.chown(directory, 0, group)
            os.chmod(directory, 0o2777 if fs_group is not None else 0o777)
        else:
            pytest.fail(f"the test cannot mount volume {volume}: teach volumes() its kind")
        for key, content in files.items():
            path = directory / key
            path.write_bytes(content)
            os.chown(path, 0, group)
            os.chmod(path, source.get("defaultMode", 0o644) | readable)
        read_only = ":ro" if mount.get("readOnly") else ""
        options.append(f"--volume={directory}:{mount['mountPath']}{read_only}")
        directories[mount["mountPath"]] = directory
    return options, directories


def run_options(
    docs: list[dict], pod: dict, spec: dict, root: Path
) -> tuple[list[str], dict[str, Path]]:
    """Everything `docker run` needs besides the image and its args to be the rendered pod's
    container, on the host network; and {mountPath: host dir} of its volumes."""
    assert "command" not in spec, "the chart sets args only: the ENTRYPOINT runs them"
    security, fs_group = hardening(pod, spec)
    mounts, directories = volumes(docs, pod, spec, fs_group, root)
    env = []
    for variable in spec.get("env", []):
        assert "value" in variable, f"the test cannot carry over {variable}"
        env.append(f"--env={variable['name']}={variable['value']}")
    return [*security, *mounts, *env, "--network=host"], directories


def loopback_args(spec: dict, port: int) -> list[str]:
    """The rendered args, then a listen address on a free loopback port: in Kubernetes the pod
    has a network namespace of its own, here the container shares the host's (the last
    --web.listen-address wins)."""
    return [*spec["args"], f"--web.listen-address=127.0.0.1:{port}"]


def test_the_image_runs_the_charts_pod(
    engine: DockerEngine, image: str, ray_with_token: RaySimulator, tmp_path: Path
) -> None:
    ray = ray_with_token
    target = {
        "name": "ray-chart",
        "backend": "ray",
        "url": ray.url,
        "credentials": {"token_file": f"/etc/jobfleet-exporter/secrets/{TOKEN_KEY}"},
    }
    docs = render(*helm_values([target], "--set-json", f'secrets={{"{TOKEN_KEY}": "{RAY_TOKEN}"}}'))
    _name, pod, spec = pod_of(docs, "Deployment")
    options, directories = run_options(docs, pod, spec, tmp_path)
    config = yaml.safe_load(rendered_config(docs))
    assert config["targets"] == [target]
    state_file = Path(config["state_file"])
    (state_dir,) = [d for mount, d in directories.items() if state_file.parent == Path(mount)]

    # The probes' named port is the port the rendered args make the exporter listen on.
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    (listen,) = [arg for arg in spec["args"] if arg.startswith("--web.listen-address=")]
    listen_port = parse_listen_address(listen.partition("=")[2])[1]
    probes = [spec["livenessProbe"]["httpGet"], spec["readinessProbe"]["httpGet"]]
    assert [ports[probe["port"]] for probe in probes] == [listen_port, listen_port]

    ray.add_job("train-a", status="RUNNING")
    ray.add_job("train-b", status="RUNNING")
    ray.add_job("eval", status="FAILED")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with container(engine, *options, image, *loopback_args(spec, port)) as cid:
        ready(engine, cid, base)
        for probe in probes:
            assert httpx.get(f"{base}{probe['path']}", timeout=10).status_code == 200, probe
        body = httpx.get(f"{base}/metrics", timeout=10).content
        assert value(body, "jobfleet_target_up", target="ray-chart", resource="jobs") == 1
        assert value(body, "jobfleet_jobs", target="ray-chart", status="RUNNING") == 2
        assert value(body, "jobfleet_jobs", target="ray-chart", status="FAILED") == 1
        # The token came from the Secret's file at the rendered mount path.
        sent = [
            {k.lower(): v for k, v in headers.items()}.get("authorization")
            for _method, path, headers in ray.requests
            if path.startswith("/api/jobs")
        ]
        assert sent and set(sent) == {f"Bearer {RAY_TOKEN}"}, sent
        # The state file lands in the writable state volume, owned by the pod's user.
        saved = state_dir / state_file.name
        assert eventually(saved.exists, 20), logs(engine, cid)
        assert saved.stat().st_uid == pod["securityContext"]["runAsUser"]
        assert "ray-chart" in read_state(saved)["targets"]
        pid = inspect(engine, cid)["State"]["Pid"]
        context = pod["securityContext"]
        assert process_ids(pid) == (context["runAsUser"], context["runAsGroup"])


def test_a_sharded_pod_takes_its_shard_from_the_pod_name(
    engine: DockerEngine, image: str, ray_sim: RaySimulator, tmp_path: Path
) -> None:
    names = [f"ray-{i}" for i in range(1, 10)]
    mine = {name for name in names if owner(name, 3) == 1}
    assert mine and mine != set(names), "choose names that shard 1 owns some, not all, of"
    targets = [{"name": name, "backend": "ray", "url": ray_sim.url} for name in names]
    docs = render(*helm_values(targets, "--set", "shards=3"))
    name, pod, spec = pod_of(docs, "StatefulSet")
    options, _directories = run_options(docs, pod, spec, tmp_path)
    ray_sim.add_job("train", status="RUNNING")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # A StatefulSet's pod N is named, and so has the host name, <StatefulSet name>-N.
    run = (*options, f"--hostname={name}-1", image, *loopback_args(spec, port))
    with container(engine, *run) as cid:
        ready(engine, cid, base)
        body = httpx.get(f"{base}/metrics", timeout=10).content
        assert value(body, "jobfleet_shard_ordinal") == 1
        assert value(body, "jobfleet_total_shards") == 3
        up = {
            dict(labels)["target"]: v
            for (metric, labels), v in samples(body).items()
            if metric == "jobfleet_target_up" and dict(labels).get("resource") == "jobs"
        }
        assert up == dict.fromkeys(mine, 1), logs(engine, cid)
