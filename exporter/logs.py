"""Logging setup: logfmt-like text or JSON lines, on stderr."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

LEVELS = ("debug", "info", "warning", "error")
MAX_MESSAGE = 4096  # characters: a huge value (a job id, a backend's text) cannot make a huge line


def message(record: logging.LogRecord) -> str:
    """The record's message, bounded, and encodable: a lone surrogate (which a backend's
    JSON can carry as an escape) becomes ``\\udXXX`` text instead of failing the write."""
    text = record.getMessage()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _timestamp(record: logging.LogRecord) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z"
    )


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE = re.compile(r'[\\"\x00-\x1f\x7f\u2028\u2029]')


def quoted(value: str) -> str:
    """A logfmt value: quoted, with backslashes, quotes and control characters escaped, so
    that no text (a job id, a backend's message) can end the line or forge a field."""

    def escape(match: re.Match[str]) -> str:
        char = match.group(0)
        return _ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return '"' + _UNSAFE.sub(escape, value) + '"'


class LogfmtFormatter(logging.Formatter):
    """``ts=… level=… logger=… msg="…"``, one line per record whatever the message holds."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"ts={_timestamp(record)} level={record.levelname} logger={record.name} "
            f"msg={quoted(message(record))}"
        )
        if record.exc_info:
            line += f" exc={quoted(self.formatException(record.exc_info))}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    """Configure the root logger. HTTP client libraries stay at WARNING at every level:
    their debug output would carry request URLs and headers."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
