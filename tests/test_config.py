from pathlib import Path

import pytest

from exporter.config.parse import load_config, parse_config
from exporter.config.types import ConfigError, parse_duration

from .helpers import ROOT, run_cli

GOOD_TARGET = {"name": "a", "backend": "ray", "url": "http://127.0.0.1:8265"}


ALIBABA_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIexample",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3",
    "HUAWEICLOUD_SDK_AK": "HPUAexample",
    "HUAWEICLOUD_SDK_SK": "s4",
}


BROKEN = {
    "unknown key": (
        "targets:\n- {name: a, backend: ray, url: 'http://x:1', pol_interval: 5s}\n",
        "targets[0].pol_interval: unknown key",
    ),
    "missing field": ("targets:\n- {name: a, backend: ray}\n", "targets[0].url: required"),
    "bad duration": (
        "targets:\n- {name: a, backend: ray, url: 'http://x:1', timeout: 10 sec}\n",
        "targets[0].timeout: bad duration",
    ),
    "bad url": (
        "targets:\n- {name: a, backend: ray, url: 'http://x:1'}\n"
        "- {name: b, backend: ray, url: 'ftp//x'}\n",
        "targets[1].url: must be an http:// or https:// URL",
    ),
    "unset env var": (
        "targets:\n- {name: a, backend: ray, url: '${JOBFLEET_TEST_UNSET_URL}'}\n",
        "targets[0].url: environment variable JOBFLEET_TEST_UNSET_URL is not set",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_exits_2_with_one_line_naming_the_field(tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    result = run_cli("--config.file", str(path), "--check-config")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"config error: {expected}"), lines[0]
    assert "Traceback" not in result.stderr


def test_example_config_loads_and_check_config_describes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ALIBABA_ENV.items():
        monkeypatch.setenv(name, value)
    config = load_config(ROOT / "config.example.yaml", environ={})
    assert [t.backend for t in config.targets] == [
        "emr_serverless",
        "modelarts_lite",
        "ray",
        "openyuanrong",
        "kuberay",
    ]
    assert config.targets[3].poll_interval == 60
    result = run_cli("--config.file", "config.example.yaml", "--check-config", env=ALIBABA_ENV)
    assert result.returncode == 0, result.stderr
    assert "target ray-prod: backend=ray endpoint=http://ray-head.example.internal:8265" in (
        result.stdout
    )
    assert (
        "target emr-hangzhou: backend=emr_serverless "
        "endpoint=https://emr-serverless-spark.cn-hangzhou.aliyuncs.com workspace=w-d2d82aa09155"
    ) in result.stdout
    assert "auth=ACS3 access key (environment) attribution=user=creatorName max_values=50" in (
        result.stdout
    )
    assert "auth=AK/SK signature (environment)" in result.stdout
    assert "target k8s-prod: backend=kuberay endpoint=https://k8s-prod.example.internal:6443" in (
        result.stdout
    )
    assert "example-service-account-token" not in result.stdout + result.stderr
    assert "s3" not in result.stdout.replace("emr-serverless-spark", "")


def test_env_expansion_default_and_literal_dollar() -> None:
    target = {**GOOD_TARGET, "url": "${RAY_URL:-http://fallback:1}", "headers": {"X": "p$$q"}}
    config = parse_config({"targets": [target]}, environ={})
    assert config.targets[0].url == "http://fallback:1"
    assert config.targets[0].headers["X"].get_secret_value() == "p$q"
    config = parse_config({"targets": [target]}, environ={"RAY_URL": "http://set:2"})
    assert config.targets[0].url == "http://set:2"


def test_token_file_is_read_and_never_printed(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-token-value\n")
    path = tmp_path / "config.yaml"
    path.write_text(
        "targets:\n- name: a\n  backend: ray\n  url: http://x:1/?token=abc\n"
        f"  credentials: {{token_file: {secret}}}\n  headers: {{X-Api-Key: hdr-secret}}\n"
    )
    config = load_config(path)
    assert config.targets[0].credentials.bearer_token() == "s3cr3t-token-value"
    result = run_cli("--config.file", str(path), "--check-config")
    assert result.returncode == 0, result.stderr
    expected = f"auth=Authorization: Bearer token (from file {secret}); headers: X-Api-Key"
    assert expected in result.stdout
    for secret_text in ("s3cr3t-token-value", "token=abc", "hdr-secret"):
        assert secret_text not in result.stdout + result.stderr


def test_defaults_are_inherited_and_overridden() -> None:
    config = parse_config(
        {
            "defaults": {"poll_interval": "2m", "timeout": "1500ms", "per_job_series": "all"},
            "targets": [GOOD_TARGET, {**GOOD_TARGET, "name": "b", "poll_interval": 45}],
        }
    )
    a, b = config.targets
    assert (a.poll_interval, a.timeout, a.per_job_series) == (120, 1.5, "all")
    assert b.poll_interval == 45


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), (12, 12)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-1s", "0", "1h 30m", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "web": {"listen_address": "nope"},
                "targets": [GOOD_TARGET, {**GOOD_TARGET, "name": "a"}, {"backend": "ray"}],
            }
        )
    problems = err.value.problems
    assert "web.listen_address: must be host:port or :port, with a port from 1 to 65535" in problems
    assert "targets[2].name: required" in problems
    assert "targets[2].url: required" in problems


def test_duplicate_target_names_are_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"targets": [GOOD_TARGET, GOOD_TARGET]})
    assert err.value.problems == ["targets[1].name: duplicate target name 'a'"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("targets:\n  - name: [unclosed\n")
    result = run_cli("--config.file", str(path), "--check-config")
    assert result.returncode == 2
    assert "line 3" in result.stderr or "line 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


EMR = {"name": "e", "backend": "emr_serverless", "workspace_id": "w-1", "region": "cn-hangzhou"}


def test_emr_target_needs_credentials_and_a_place(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ALIBABA_ENV, "ALIBABA_CLOUD_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as err:
        parse_config({"targets": [EMR]})
    assert err.value.problems[0].startswith("targets[0]: credentials: none found")
    keys = {"access_key_id": "id", "access_key_secret": "secret"}
    with pytest.raises(ConfigError) as err:
        parse_config({"targets": [{**EMR, "region": None, "credentials": keys}]})
    assert err.value.problems == ["targets[0]: set region (or endpoint)"]
    with pytest.raises(ConfigError) as err:
        parse_config({"targets": [{**EMR, "credentials": {"access_key_id": "id"}}]})
    assert "access_key_id and access_key_secret go together" in err.value.problems[0]


def test_emr_endpoints_from_region_and_network(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    keys = {"access_key_id": "id", "access_key_secret_file": str(secret)}
    public, vpc, own = parse_config(
        {
            "targets": [
                {**EMR, "credentials": keys},
                {**EMR, "name": "v", "network": "vpc", "credentials": keys},
                {**EMR, "name": "o", "endpoint": "http://127.0.0.1:1234", "credentials": keys},
            ]
        }
    ).targets
    assert public.base_url() == "https://emr-serverless-spark.cn-hangzhou.aliyuncs.com"
    assert vpc.base_url() == "https://emr-serverless-spark-vpc.cn-hangzhou.aliyuncs.com"
    assert own.base_url() == "http://127.0.0.1:1234"
    assert public.credential_provider().get().access_key_secret == "from-file"


def test_problem_lines_are_bounded_in_count_and_length(tmp_path: Path) -> None:
    keys = "".join(f"  k{i}_{'x' * 1000}: 1\n" for i in range(500))
    path = tmp_path / "config.yaml"
    path.write_text(f"targets:\n- name: a\n  backend: ray\n  url: http://x:1\n{keys}")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    problems = refused.value.problems
    assert len(problems) == 101 and problems[-1] == "... and 400 more problems"
    assert all(len(line) <= 500 for line in problems)
    assert problems[0].startswith("targets[0].k0_xxx") and problems[0].endswith("…: unknown key")
