"""Secrets and header values in settings: checked to be sendable over HTTP, read from
files, never printed; bearer credentials and keys taken from the environment."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr, model_validator

from exporter.config.files import CREDENTIAL_RULE, FileProblem, is_credential, read_secret_file
from exporter.config.types.values import Strict

# What HTTP can carry: a header value is visible ASCII with inner spaces or tabs (RFC 9110,
# obs-text excluded); a token or key is visible ASCII without spaces (``is_credential``).
# httpx refuses anything else when the client is built or the request is sent, so it is
# refused here, in the config.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x21-\x7e\t]*[\x21-\x7e])?)?")
HEADER_VALUE_RULE = (
    "must be visible ASCII characters (inner spaces allowed), without line breaks, "
    "control characters or leading and trailing spaces"
)


def _check_secret(secret: SecretStr) -> SecretStr:
    if not is_credential(secret.get_secret_value()):
        raise ValueError(CREDENTIAL_RULE)  # never the value
    return secret


class FileSecret(SecretStr):
    """A secret read from a file: its value, and the path it came from (safe to print)."""

    def __init__(self, value: str, path: str = "") -> None:
        super().__init__(value)
        self.path = path


def _read_secret_file(path: Any) -> FileSecret:
    if not isinstance(path, str | Path):
        raise ValueError("must be a file path")
    try:
        return FileSecret(read_secret_file(path), str(path))
    except FileProblem as err:
        raise ValueError(str(err)) from None


def _check_token_file(path: Path) -> Path:
    _read_secret_file(path)
    return path


Secret = Annotated[SecretStr, AfterValidator(_check_secret)]
TokenFilePath = Annotated[Path, AfterValidator(_check_token_file)]
SecretFile = Annotated[FileSecret, BeforeValidator(_read_secret_file)]


def _check_header_name(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError("must be a header name: letters, digits and !#$%&'*+-.^_`|~")
    return name


def _check_header_value(value: SecretStr) -> SecretStr:
    if not _HEADER_VALUE.fullmatch(value.get_secret_value()):
        raise ValueError(HEADER_VALUE_RULE)
    return value


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
HeaderValue = Annotated[SecretStr, AfterValidator(_check_header_value)]


class BearerCredentials(Strict):
    token: Secret | None = None
    token_file: SecretFile | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BearerCredentials:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        return self

    def bearer_token(self) -> str | None:
        secret = self.token or self.token_file
        return secret.get_secret_value() if secret else None


def check_environment_credentials(*names: str) -> None:
    """Keys taken from the environment must be sendable too (checked when they are set)."""
    for name in names:
        value = os.environ.get(name)
        if value and not is_credential(value):
            raise ValueError(f"credentials: environment variable {name} {CREDENTIAL_RULE}")
