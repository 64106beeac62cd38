"""Backend TLS settings, as Prometheus' ``tls_config``, and the SSL contexts built from them."""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class TlsSettings:
    """How a backend's server is verified and how the exporter presents itself to it.

    The ``*_data`` fields are PEM text given inline (a kubeconfig's ``*-data``) instead of a
    file; they are kept in memory and never shown."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    ca_data: str | None = field(default=None, repr=False)
    cert_data: str | None = field(default=None, repr=False)
    key_data: str | None = field(default=None, repr=False)


def ssl_context(settings: TlsSettings) -> ssl.SSLContext:
    """A client context trusting the default CAs (certifi's), or only ``ca_file``'s (or
    ``ca_data``'s), as Prometheus does; with the client certificate when one is set."""
    if settings.insecure_skip_verify:
        context = httpx.create_ssl_context(verify=False)
    elif settings.ca_file or settings.ca_data:
        context = ssl.create_default_context(cafile=settings.ca_file, cadata=settings.ca_data)
    else:
        context = httpx.create_ssl_context()
    if settings.cert_file or settings.cert_data:
        with (
            _readable(settings.cert_file, settings.cert_data) as cert,
            _readable(settings.key_file, settings.key_data) as key,
        ):
            context.load_cert_chain(cert, key)
    return context


@contextlib.contextmanager
def _readable(path: str | None, data: str | None) -> Iterator[str | None]:
    """A path ``ssl`` can read ``data`` from (it loads certificates and keys from files only):
    on Linux an anonymous in-memory file (``memfd``) that no directory names and no disk
    holds; elsewhere a file only this user may read, in a new private directory, removed
    as soon as it was loaded. ``path`` itself when no data is given."""
    if data is None:
        yield path
        return
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("jobfleet-tls", os.MFD_CLOEXEC)
        try:
            _write_all(fd, data.encode())
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="jobfleet-tls-") as directory:  # mode 0700
        name = os.path.join(directory, "pem")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, data.encode())
        finally:
            os.close(fd)
        yield name


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
