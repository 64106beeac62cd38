"""Secrets never leave: planted keys, tokens, token-bearing URLs and runtime_env variables are
absent from /metrics, the landing page, debug logs, --check-config output and error messages,
those of targets and of an http discovery source."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import yaml

from exporter.backends import registry
from exporter.simulators.base import Simulator
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.modelarts_lite import ModelArtsLiteSimulator
from exporter.simulators.ray import RaySimulator

from .helpers import (
    ROOT,
    eventually,
    exporter_process,
    run_cli,
    samples,
    stop_with_sigterm,
    wait_ready,
)
from .test_discovery_http import Endpoint, serving

# Each declared backend's simulator wants a credential of its own, planted in its target.
BACKEND_SECRETS = {
    name: f"planted{n}BackendCredential{name.title().replace('_', '')}"
    for n, name in enumerate(registry.names())
}
RUNTIME_SECRET = "planted-runtime-env-secret-77c1"
URL_SECRET = "planted-url-password-91de"
HEADER_SECRET = "planted-header-value-0b2e"
STS_TOKEN = "plantedStsSecurityToken+/=9d0c"
HUAWEI_STS = "plantedHuaweiSecurityToken3e6f"
WRONG_SECRET = "plantedWrongSecretThatFails8c4a"

S = TypeVar("S", bound=Simulator)


def planted(extra: list[str]) -> list[str]:
    return [
        *BACKEND_SECRETS.values(),
        RUNTIME_SECRET,
        URL_SECRET,
        HEADER_SECRET,
        STS_TOKEN,
        HUAWEI_STS,
        WRONG_SECRET,
        *extra,
    ]


def one_of(simulators: dict[str, Simulator], kind: type[S]) -> S:
    return next(sim for sim in simulators.values() if isinstance(sim, kind))


@pytest.mark.slow
def test_planted_secrets_never_leave(tmp_path: Path) -> None:
    simulators = {
        name: registry.declaration(name).simulator(name, secret=secret)
        for name, secret in BACKEND_SECRETS.items()
    }
    ray = simulators["ray"]
    assert isinstance(ray, RaySimulator)
    emr = one_of(simulators, EmrServerlessSimulator)
    one_of(simulators, ModelArtsLiteSimulator).security_token = HUAWEI_STS
    with contextlib.ExitStack() as running:
        for simulator in simulators.values():
            running.enter_context(simulator)
            simulator.add_running_job("running")
        ray.add_job(
            "with-env",
            status="RUNNING",
            runtime_env={"env_vars": {"API_KEY": RUNTIME_SECRET}},
            entrypoint=f"python train.py --password {RUNTIME_SECRET}",
        )
        ray.add_job("failing", status="FAILED", error_type="JOB_ENTRYPOINT_COMMAND_ERROR")
        emr.add_cluster("ray-1")
        dashboard_tokens = [
            url.split("token=", 1)[1]
            for url in [job["dashboardUrl"] for job in emr.jobs()]
            + [cluster["dashboardUrl"] for cluster in emr.list_clusters({})["rayClusters"]]
        ]
        host = ray.url.removeprefix("http://")
        emr_sts = emr.target_config("emr-sts", resources=["jobs"])
        emr_sts["credentials"]["security_token"] = STS_TOKEN  # refused: the token is unknown
        ray_target = ray.target_config("ray-headers", headers={"X-Api-Key": HEADER_SECRET})
        anonymous = {k: v for k, v in ray_target.items() if k not in ("credentials", "headers")}
        config = {
            "defaults": {"per_job_series": "all", "poll_interval": "1s"},
            "targets": [
                *(sim.target_config(name) for name, sim in simulators.items()),
                ray_target,
                {**anonymous, "name": "ray-wrong", "credentials": {"token": WRONG_SECRET}},
                {**anonymous, "name": "ray-userinfo", "url": f"http://user:{URL_SECRET}@{host}"},
                emr_sts,
            ],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        checked = subprocess.run(
            [sys.executable, "-m", "exporter", "--config.file", str(path), "--check-config"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        args = ("--config.file", str(path), "--log.level", "debug")
        with exporter_process(*args) as (process, base):
            wait_ready(base, process)

            def polled_twice() -> bool:  # a few polls, successful and failing, logged at debug
                body = httpx.get(f"{base}/metrics", timeout=10).content
                family = "jobfleet_poll_duration_seconds_count"
                counts = [v for (n, _), v in samples(body).items() if n == family]
                return bool(counts) and min(counts) >= 2

            assert eventually(polled_twice, timeout=30)
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            landing = httpx.get(f"{base}/", timeout=10).text
            logs = stop_with_sigterm(process).decode()

    for name in BACKEND_SECRETS:  # each backend's credential was taken, and is nowhere
        assert (
            f'jobfleet_target_up{{target="{name}",backend="{name}",resource="jobs"}} 1' in metrics
        )
    assert 'target="ray-headers",backend="ray",resource="jobs"} 1' in metrics
    assert 'target="ray-wrong",backend="ray",resource="jobs"} 0' in metrics
    assert "ray-wrong" in landing and "HTTP 403" in landing  # the error is shown, not the token
    assert "debug" in logs.lower()
    outputs = {
        "metrics": metrics,
        "landing page": landing,
        "logs": logs,
        "check-config": checked.stdout + checked.stderr,
    }
    for secret in planted(dashboard_tokens):
        for where, text in outputs.items():
            assert secret not in text, f"{secret!r} leaked into {where}"
    assert "token=" not in metrics and "token=" not in landing


@pytest.mark.slow
def test_an_http_discovery_source_keeps_its_secrets(tmp_path: Path) -> None:
    endpoint = Endpoint()
    endpoint.status = 401  # the answer echoes the request's secrets
    endpoint.body = f"denied {URL_SECRET} {HEADER_SECRET}".encode()
    with serving(endpoint) as sd:
        url = sd.replace("://", f"://sd:{URL_SECRET}@") + f"/targets?key={HEADER_SECRET}"
        source = {
            "name": "fleet",
            "http": {"url": url, "refresh_interval": "200ms"},
            "template": {"backend": "ray"},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({"discovery": [source]}))
        checked = run_cli("--config.file", str(path), "--check-config")
        assert checked.returncode == 0, checked.stderr
        args = ("--config.file", str(path), "--log.level", "debug", "--web.enable-lifecycle")
        with exporter_process(*args) as (process, base):
            errors = 'jobfleet_discovery_errors_total{source="fleet",reason="auth"}'
            assert eventually(lambda: errors in httpx.get(f"{base}/metrics", timeout=10).text)
            reloaded = httpx.post(f"{base}/-/reload", timeout=10)
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            landing = httpx.get(f"{base}/", timeout=10).text
            logs = stop_with_sigterm(process).decode()
    assert reloaded.status_code == 200
    assert "denied *** ***" in logs
    outputs = {"metrics": metrics, "landing page": landing, "logs": logs}
    outputs["check-config"] = checked.stdout + checked.stderr
    for secret in (URL_SECRET, HEADER_SECRET):
        for where, text in outputs.items():
            assert secret not in text, f"{secret!r} leaked into {where}"
