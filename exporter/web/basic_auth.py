"""HTTP basic auth against bcrypt hashes, with the verdicts cached.

bcrypt is slow on purpose (~70 ms at cost 10): checking it on every scrape would cost far more
than the scrape. A verdict is cached under the SHA-256 of the presented ``user:password``, in
a bounded LRU, for as long as the users stay the same (the owner builds a new BasicAuth when the
users file changes). Concurrent requests with the same new credentials wait for one check
rather than each running bcrypt.

An unknown user is checked against a dummy hash, so that a first attempt takes as long whether
or not the user exists. bcrypt's time is set by the hash's cost alone (it doubles with each
step), and users may have different costs, so no one dummy cost will do: a dummy of the highest
cost told an unknown user from every user of a lower cost. Instead, the dummy has the cost of
a configured user picked by an HMAC of the presented name:

- The name alone decides the pick, so a name retried with other passwords takes the same time
  each time, as a real user's does.
- The pick is among the users, one entry each, so unknown names get each cost in the same
  proportion as the users have it: the cost a name's check takes does not change the odds that
  the name exists (short of knowing which cost that very user was given).
- The HMAC key is a digest of the configured hashes, whose random salts an attacker does not
  know, so the cost an unknown name gets cannot be computed offline and compared with its
  timing. The key stays the same across restarts and reloads that leave the users as they are
  (a rotated TLS certificate re-reads the web config), so a name's timing does not change with
  them; it does when the users file changes, and a name timed before and after such a change
  could then be told apart by whether its cost moved.

The HMAC costs microseconds; bcrypt at its lowest cost, about a millisecond.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
        self._costs = [int(hashed[4:6]) for _, hashed in sorted(self._users.items())]
        self._key = hashlib.sha256(b"\n".join(sorted(self._users.values()))).digest()
        self._check = check
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._pending: dict[bytes, threading.Event] = {}
        self._lock = threading.Lock()

    def _dummy(self, user: bytes) -> bytes:
        """A hash for an unknown ``user``, of the cost of the configured user its HMAC picks
        (see the module's docstring)."""
        digest = hmac.new(self._key, user, hashlib.sha256).digest()
        return dummy_hash(self._costs[int.from_bytes(digest[:8], "big") % len(self._costs)])

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
            verdict = self._check(password, hashed or self._dummy(user)) and hashed is not None
            with self._lock:
                self._cache[key] = verdict
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        finally:
            with self._lock:
                del self._pending[key]
            pending.set()
        return verdict
