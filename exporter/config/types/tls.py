"""How a backend's TLS server is verified: ``TlsConfig``, as Prometheus' ``tls_config``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, model_validator

from exporter.config.files import PEM_FILE_LIMIT, FileProblem, check_regular_file
from exporter.config.types.values import HOST_NAME, Strict
from exporter.http.tls import TlsSettings, ssl_context


def _readable_file(path: Path) -> Path:
    """A regular file this process can read (a FIFO or device would hang or never end)."""
    try:
        check_regular_file(path, PEM_FILE_LIMIT)
    except FileProblem as err:
        raise ValueError(str(err)) from None
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]


def _check_host_name(name: str) -> str:
    if not HOST_NAME.fullmatch(name):
        raise ValueError("must be a host name: letters, digits, - and .")
    return name


class TlsConfig(Strict):
    """How a backend's TLS server is verified, as Prometheus' ``tls_config``."""

    ca_file: ReadableFile | None = None
    cert_file: ReadableFile | None = None
    key_file: ReadableFile | None = None
    server_name: Annotated[str, AfterValidator(_check_host_name)] | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _usable(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        try:
            ssl_context(self.settings())
        except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
            raise ValueError(f"unusable TLS files: {err}") from None
        return self

    def settings(self) -> TlsSettings:
        def text(path: Path | None) -> str | None:
            return str(path) if path is not None else None

        return TlsSettings(
            text(self.ca_file),
            text(self.cert_file),
            text(self.key_file),
            self.server_name,
            self.insecure_skip_verify,
        )
