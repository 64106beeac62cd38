"""The exporter-toolkit web-config format: response headers, paths served without basic auth,
cipher suites, and every toolkit key this exporter does not implement refused by name."""

from __future__ import annotations

import ssl
from pathlib import Path

import bcrypt
import httpx
import pytest

from exporter.config.types import ConfigError
from exporter.web.server import WebOptions
from exporter.web.web_config import WebSecurity, load_web_config

from .pki import server_pki
from .test_web_face import served

HEADERS = """http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    X-Content-Type-Options: nosniff
    X-XSS-Protection: "1"
    Content-Security-Policy: "default-src 'self' *.test.example.net"
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1, and a client certificate, all from openssl."""
    return server_pki(tmp_path_factory.mktemp("pki"))


def web(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


def test_the_toolkits_headers_example_is_sent_on_every_response(tmp_path: Path) -> None:
    """The toolkit's own example (web/testdata/web_config_headers.good.yml), unchanged."""
    security = WebSecurity(web(tmp_path, HEADERS))
    with served(WebOptions(security=security)) as (port, _):
        for path in ("/metrics", "/", "/healthz", "/nowhere"):
            response = httpx.get(f"http://127.0.0.1:{port}{path}")
            assert response.headers["x-frame-options"] == "deny", path
            assert response.headers["strict-transport-security"].startswith("max-age=31536000")
            assert response.headers["content-security-policy"].endswith("*.test.example.net")
            assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("http_server_config:\n  headers:\n    Server: x\n", "'Server' cannot be set"),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "X-Frame-Options: must be one of deny, sameorigin",
        ),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519]\n",
         "tls_server_config.curve_preferences: not supported"),
        ("tls_server_config:\n  cert: x\n  key_file: b\n", "tls_server_config.cert: inline"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
            "tls_server_config.client_allowed_sans: not supported",
        ),
        ("rate_limit:\n  burst: 1\n", "rate_limit: not supported"),
        ("no_such_key: 1\n", "no_such_key: unknown key"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [RC4]\n",
            "tls_server_config.cipher_suites.0: ",
        ),
    ],
)  # fmt: skip
def test_what_the_format_does_not_allow_is_refused_by_name(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_web_config(web(tmp_path, text))
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_excluded_paths_are_served_without_basic_auth(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    text = f"basic_auth_users:\n  prometheus: {hashed}\nauth_excluded_paths: [/healthz, /readyz]\n"
    with served(WebOptions(security=WebSecurity(web(tmp_path, text)))) as (port, _):
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/healthz?probe=1").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code in (200, 503)
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert httpx.get(f"{base}/healthz/").status_code == 401  # the exact path only
        assert httpx.get(f"{base}/metrics", auth=("prometheus", "secret")).status_code == 200


def test_cipher_suites_bound_what_tls_12_negotiates(pki: Path, tmp_path: Path) -> None:
    text = (
        f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
        "  max_version: TLS12\n"
        "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n"
    )
    security = WebSecurity(web(tmp_path, text))
    with served(WebOptions(security=security)) as (port, _):
        client = ssl.create_default_context(cafile=pki / "ca.crt")
        with httpx.Client(verify=client) as http:
            assert http.get(f"https://127.0.0.1:{port}/healthz").status_code == 200
        only_aes128 = ssl.create_default_context(cafile=pki / "ca.crt")
        only_aes128.maximum_version = ssl.TLSVersion.TLSv1_2
        only_aes128.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
        with httpx.Client(verify=only_aes128) as http, pytest.raises(httpx.ConnectError):
            http.get(f"https://127.0.0.1:{port}/healthz")
