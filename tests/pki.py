"""Test certificates from the openssl command: CAs, and server or client certificates they sign."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .helpers import need


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def need_openssl() -> None:
    found = subprocess.run(["openssl", "version"], capture_output=True, check=False)
    need(found.returncode == 0, "openssl is not installed")


def make_ca(directory: Path, name: str) -> None:
    """``name.crt`` and ``name.key``: a self-signed CA whose subject is ``name``."""
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}", cwd=directory,
    )  # fmt: skip


def make_cert(directory: Path, ca: str, name: str, cn: str, server: bool = False) -> None:
    """``name.crt`` and ``name.key`` signed by the CA ``ca``; a server one is for 127.0.0.1."""
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", f"/CN={cn}", cwd=directory,
    )  # fmt: skip
    extra: list[str] = []
    if server:
        (directory / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        extra = ["-extfile", f"{name}.ext"]
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *extra, cwd=directory,
    )  # fmt: skip


def server_pki(directory: Path) -> Path:
    """In ``directory``: a CA, a server certificate for 127.0.0.1 and a client certificate
    (CN prometheus) it signs."""
    need_openssl()
    make_ca(directory, "ca")
    make_cert(directory, "ca", "server", "127.0.0.1", server=True)
    make_cert(directory, "ca", "client", "prometheus")
    return directory
