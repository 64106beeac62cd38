"""Path parameters (RFC 3986 ``;name=value`` in a path segment, as in ``;jsessionid=…``) may
carry a session or a token: a URL is shown without them, as without its query."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from .helpers import exporter_process, run_cli

SECRETS = ("planted-path-session-1", "planted-path-token-2", "planted-query-3")
URL = (  # port 9: nobody answers, so the target stays listed with its error
    f"http://127.0.0.1:9/proxy;jsessionid={SECRETS[0]}/ray;v=1;token={SECRETS[1]}/;x"
    f"?key={SECRETS[2]}"
)
SHOWN = "http://127.0.0.1:9/proxy/ray/"


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"targets": [{"name": "t", "backend": "ray", "url": URL}]}))
    return path


def test_check_config_shows_a_url_without_its_path_parameters(tmp_path: Path) -> None:
    result = run_cli("--config.file", str(write_config(tmp_path)), "--check-config")
    assert result.returncode == 0, result.stderr
    assert f" endpoint={SHOWN} " in result.stdout
    assert ";" not in result.stdout
    assert not [secret for secret in SECRETS if secret in result.stdout + result.stderr]


@pytest.mark.slow
def test_the_landing_page_shows_a_url_without_its_path_parameters(tmp_path: Path) -> None:
    with exporter_process("--config.file", str(write_config(tmp_path))) as (_, base):
        page = httpx.get(f"{base}/", timeout=10).text
    assert f"<td>{SHOWN}</td>" in page
    assert not [secret for secret in SECRETS if secret in page]
