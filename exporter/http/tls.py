"""Backend TLS settings, as Prometheus' ``tls_config``, and the SSL contexts built from them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class TlsSettings:
    """How a backend's server is verified and how the exporter presents itself to it."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


def ssl_context(settings: TlsSettings) -> ssl.SSLContext:
    """A client context trusting the default CAs (certifi's), or only ``ca_file``'s, as
    Prometheus does; with the client certificate when one is set."""
    if settings.insecure_skip_verify:
        context = httpx.create_ssl_context(verify=False)
    elif settings.ca_file:
        context = ssl.create_default_context(cafile=settings.ca_file)
    else:
        context = httpx.create_ssl_context()
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context
