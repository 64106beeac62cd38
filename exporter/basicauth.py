"""HTTP basic auth against bcrypt hashes, with the verdicts cached.

bcrypt is slow on purpose (~70 ms at cost 10): checking it on every scrape would cost far more
than the scrape. A verdict is cached under the SHA-256 of the presented ``user:password``, in
a bounded LRU, for as long as the users stay the same (the owner builds a new BasicAuth when the
users file changes). An unknown user is checked against a dummy hash of the highest cost
configured, so a first attempt takes as long whether or not the user exists. Concurrent
requests with the same new credentials wait for one check rather than each running bcrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

import bcrypt

PasswordCheck = Callable[[bytes, bytes], bool]
MAX_PASSWORD_BYTES = 72  # bcrypt's limit: longer passwords can never match
CACHE_SIZE = 1_000
_DUMMY = bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=4))


def bcrypt_check(password: bytes, hashed: bytes) -> bool:
    return bcrypt.checkpw(password, hashed)


def dummy_hash(cost: int) -> bytes:
    """A well-formed hash of ``cost`` that no password matches: checking it costs the same."""
    return b"$2b$%02d$" % cost + _DUMMY[7:]


def credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) from an ``Authorization: Basic`` header; the scheme is case-insensitive."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


class BasicAuth:
    """The check of one set of users; thread-safe."""

    def __init__(
        self,
        users: Mapping[str, str],
        check: PasswordCheck = bcrypt_check,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._users = {user.encode(): hashed.encode() for user, hashed in users.items()}
        self._dummy = dummy_hash(max(int(hashed[4:6]) for hashed in self._users.values()))
        self._check = check
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._pending: dict[bytes, threading.Event] = {}
        self._lock = threading.Lock()

    def authorized(self, header: str | None) -> bool:
        presented = credentials(header)
        if presented is None:
            return False
        user, password = presented
        if len(password) > MAX_PASSWORD_BYTES:
            return False
        key = hashlib.sha256(user + b":" + password).digest()
        while True:
            with self._lock:
                verdict = self._cache.get(key)
                if verdict is not None:
                    self._cache.move_to_end(key)
                    return verdict
                pending = self._pending.get(key)
                if pending is None:  # this thread checks; the same credentials wait for it
                    pending = self._pending[key] = threading.Event()
                    break
            pending.wait()
        try:
            hashed = self._users.get(user)
            verdict = self._check(password, hashed or self._dummy) and hashed is not None
            with self._lock:
                self._cache[key] = verdict
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        finally:
            with self._lock:
                del self._pending[key]
            pending.set()
        return verdict
