"""A signal that arrives while the main thread writes a log line is not lost."""

from __future__ import annotations

import io
import logging
import signal
import threading
from collections.abc import Iterator

import pytest

from exporter.cli import _install_signal_handlers


class SignalledDuringWrite(io.RawIOBase):
    """A stream whose every write is interrupted by ``signum``, as the kernel may deliver a
    signal while the buffered writer of stderr holds its lock."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.written = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.written += data
        handler = signal.getsignal(self.signum)
        assert callable(handler)
        handler(self.signum, None)
        return len(data)


@pytest.fixture
def installed() -> Iterator[tuple[threading.Event, threading.Event]]:
    signums = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in signums}
    stop, reload = threading.Event(), threading.Event()
    _install_signal_handlers(stop, reload)
    try:
        yield stop, reload
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_during_a_log_write_is_acted_on(
    installed: tuple[threading.Event, threading.Event],
    signum: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop, reload = installed
    raw = SignalledDuringWrite(signum)
    stream = io.TextIOWrapper(io.BufferedWriter(raw), line_buffering=True)
    monkeypatch.setattr("sys.stderr", stream)  # where the exporter logs, and logging's errors
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("exporter")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        logging.getLogger("exporter.app").info("configuration reload refused: a problem")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert (reload if signum == signal.SIGHUP else stop).is_set()
    assert not (stop if signum == signal.SIGHUP else reload).is_set()
    assert bytes(raw.written) == b"configuration reload refused: a problem\n"
