"""Reading files named by the configuration: regular files only, and never more than a bound.

``token_file: /dev/zero`` must not read until memory runs out, and a FIFO must not block start
or a reload: the file is opened without blocking, checked with ``fstat`` on the open descriptor
(so what is checked is what is read), and read up to its bound plus one byte.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

SECRET_FILE_LIMIT = 64 * 1024  # a token or a key: far more than any real one
CONFIG_FILE_LIMIT = 1024 * 1024  # the YAML configuration and the web configuration
PEM_FILE_LIMIT = 4 * 1024 * 1024  # certificates, keys and CA bundles


class FileProblem(ValueError):
    """Why a configured file cannot be used; the message names the path, never the content."""


def _size_text(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit < 1024 * 1024 else f"{limit // (1024 * 1024)} MiB"


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them; else FileProblem."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise FileProblem(f"cannot read {path}: {err.strerror or type(err).__name__}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileProblem(f"cannot read {path}: not a regular file (a directory)")
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(f"cannot read {path}: not a regular file")
        if info.st_size > limit:
            raise FileProblem(f"cannot read {path}: larger than {_size_text(limit)}")
        chunks, size = [], 0
        while chunk := os.read(fd, min(limit + 1 - size, 1024 * 1024)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # the file grew since fstat
                raise FileProblem(f"cannot read {path}: larger than {_size_text(limit)}")
        return b"".join(chunks)
    except OSError as err:
        raise FileProblem(f"cannot read {path}: {err.strerror or type(err).__name__}") from None
    finally:
        os.close(fd)


def read_text_file(path: str | Path, limit: int) -> str:
    """``read_regular_file`` decoded as UTF-8."""
    try:
        return read_regular_file(path, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem(f"cannot read {path}: not UTF-8 text") from None


# A token or key goes into a request header: visible ASCII, no spaces (RFC 9110 field values
# without obs-text); httpx refuses anything else when the request is built.
_CREDENTIAL = re.compile(r"[\x21-\x7e]*")
CREDENTIAL_RULE = "must be visible ASCII characters, without spaces or control characters"


def is_credential(value: str) -> bool:
    """Whether ``value`` can be sent as a token or key."""
    return _CREDENTIAL.fullmatch(value) is not None


def read_secret_file(path: str | Path) -> str:
    """A token or key from a file, without surrounding whitespace; FileProblem when the file
    is unusable, empty, or holds what cannot be sent (its content is never quoted)."""
    value = read_text_file(path, SECRET_FILE_LIMIT).strip()
    if not value:
        raise FileProblem(f"{path} is empty")
    if not is_credential(value):
        raise FileProblem(f"the content of {path} {CREDENTIAL_RULE}")
    return value


def check_regular_file(path: str | Path, limit: int) -> None:
    """Raise FileProblem unless ``path`` is a readable regular file within ``limit`` bytes.

    For files another library reads itself (certificates: ``ssl`` reads them by path)."""
    read_regular_file(path, limit)
