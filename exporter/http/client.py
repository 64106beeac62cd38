"""HTTP for every backend: one GET (or a search by POST) with a hard deadline and a size cap,
counted per operation.

Failures become a ``PollError`` with a reason from ``REASONS``; messages never carry request
headers, credentials or query strings, and backend text in them is scrubbed and bounded.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from exporter import __version__
from exporter.errors import NotFound, PollError
from exporter.http.body import ACCEPT_ENCODING, body_pieces, check_media_type, read_body
from exporter.http.decode import UndecodableJson, decode_json
from exporter.http.items import (
    TooCostly,
    TooManyItems,
    check_items,
    generic_read_budget,
    item_limit,
    too_costly,
    too_many,
)
from exporter.http.scrub import NO_SECRETS, Scrubber, header_secrets
from exporter.http.tls import TlsSettings
from exporter.http.transport import TRANSPORTS, deadline_scope
from exporter.polling.health import ApiStats

# Every request names the exporter and its version, so an API's owner can tell its traffic
USER_AGENT = f"jobfleet-exporter/{__version__}"
MAX_DETAIL = 200  # characters of a backend's error message kept
MAX_FIELD = 64  # characters of an error code or request id kept


def default_error(
    operation: str, response: httpx.Response, body: bytes, scrub: Scrubber = NO_SECRETS
) -> PollError:
    """Classify an HTTP error answer by status alone (backends refine vendor codes)."""
    status = response.status_code
    detail = f"{operation}: HTTP {status}: {scrub.body(body, 120)}".rstrip(": ")
    if status in (401, 403):
        return PollError("auth", detail, status=status)
    if status == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        return PollError("throttled", detail, status=status, retry_after=wait)
    if status == 404:
        return NotFound(detail)
    return PollError("http", detail, status=status)


ErrorClassifier = Callable[[str, httpx.Response, bytes, Scrubber], PollError]


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None."""
    try:
        payload = decode_json(body)
    except (UndecodableJson, TooCostly):
        return None
    return payload if isinstance(payload, dict) else None


def first_text(payload: dict[str, Any], *keys: str) -> str:
    """The first non-empty string among ``keys`` (vendors spell their error fields several ways)."""
    return next((v for k in keys if isinstance(v := payload.get(k), str) and v), "")


def vendor_error(
    operation: str,
    response: httpx.Response,
    code: str,
    message: str,
    request_id: str,
    scrub: Scrubber,
    *,
    throttled: bool,
    auth: bool,
    retry_after: float | None = None,
) -> PollError:
    """A PollError from a cloud API's error answer, its reason decided by the backend."""
    status = response.status_code
    code, request_id = scrub(code, MAX_FIELD), scrub(request_id, MAX_FIELD)
    detail = f"{operation}: HTTP {status} {code}: {scrub(message, MAX_DETAIL)}"
    detail += f" (request {request_id or '-'})"
    if throttled:
        return PollError("throttled", detail, status=status, retry_after=retry_after)
    if auth or status in (401, 403):
        return PollError("auth", detail, status=status)
    if status == 404:  # as ``default_error`` has it: a caller may take a 404 for "gone"
        return NotFound(detail)
    return PollError("http", detail, status=status)


def server_date(response: httpx.Response) -> float | None:
    """The ``Date`` header as epoch seconds, or None when absent or unreadable."""
    try:
        date = email.utils.parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return (date if date.tzinfo else date.replace(tzinfo=dt.UTC)).timestamp()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` value: seconds, or an HTTP date (``now`` is ``time.time()``)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return seconds if seconds > 0 and seconds == seconds else None


def transport_error(operation: str, err: httpx.TransportError, deadline: float) -> PollError:
    """The reason a request failed below HTTP: past the deadline (whatever the symptom, as the
    watchdog closes sockets), TLS verification, or the connection."""
    if isinstance(err, httpx.TimeoutException) or time.monotonic() >= deadline:
        return PollError("timeout", f"{operation}: timed out")
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            why = getattr(cause, "verify_message", None) or cause.reason or str(cause)
            return PollError("tls", f"{operation}: TLS: {why}")
        if isinstance(cause, OSError) and cause.strerror:
            return PollError("connection", f"{operation}: {type(err).__name__}: {cause.strerror}")
        cause = cause.__cause__ or cause.__context__
    return PollError("connection", f"{operation}: {type(err).__name__}")


class BodyReader(Protocol):
    """Reads a successful answer's body piece by piece as it arrives, so that a large answer
    is never held whole: ``feed`` each piece, then ``finish`` returns what was read (raising
    ``UndecodableJson`` when it was no JSON, ``items.TooManyItems`` when it lists more items
    than it was made to take); ``start`` holds the body's first bytes, for an error message.
    When the exchange fails part-way (its deadline, a cut connection, the size cap, the item
    limit), ``abandon`` is called instead of ``finish``."""

    start: bytes

    def feed(self, piece: bytes) -> None: ...
    def finish(self) -> Any: ...
    def abandon(self) -> None: ...


class ApiClient:
    """A thin httpx wrapper: absolute deadline, response-size cap, request accounting.

    Connections come from a pool shared by every client with the same TLS settings; the
    client keeps its own base URL, auth and headers. Every request carries ``USER_AGENT``.
    With ``content_type``, a 2xx answer of another media type is refused (``parse``).
    """

    def __init__(
        self,
        base_url: str,
        stats: ApiStats,
        *,
        max_response_bytes: int,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        classify_error: ErrorClassifier = default_error,
        requests_per_second: float | None = None,
        tls: TlsSettings | None = None,
        scrub: Scrubber | None = None,
        content_type: str | None = None,
    ) -> None:
        self.stats = stats
        self.content_type = content_type
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._next_slot = 0.0
        self._slot_lock = threading.Lock()
        self.max_response_bytes = max_response_bytes
        self.classify_error = classify_error
        self.scrub = scrub or Scrubber()
        tls = tls or TlsSettings()
        self._extensions = {"sni_hostname": tls.server_name} if tls.server_name else None
        self._client = httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                **(headers or {}),
                "User-Agent": USER_AGENT,
            },
            follow_redirects=False,
            trust_env=False,
            transport=TRANSPORTS.handle(tls),
        )

    def close(self) -> None:
        self._client.close()

    def get_json(
        self,
        path: str,
        operation: str,
        *,
        deadline: float,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET ``path`` and decode its JSON body, all before ``deadline`` (time.monotonic)."""
        return self.get_json_dated(
            path, operation, deadline=deadline, params=params, headers=headers
        )[0]

    def get_json_dated(
        self,
        path: str,
        operation: str,
        *,
        deadline: float,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        decode: Callable[[bytes], Any] = decode_json,
        reader: Callable[[int], BodyReader] | None = None,
    ) -> tuple[Any, float | None]:
        """``get_json`` and the server's clock when it answered (its ``Date``, epoch seconds;
        None without one): job times are on that clock. ``decode`` reads a whole body;
        ``reader``, when given, makes the reader of a 2xx body as it arrives (its time is not
        counted in the request's duration), given the most items it may take. An answer
        listing more items than ``items.item_limit`` allows fails with ``too_large``, and so
        does one that only the generic reader takes and that it would take more than
        ``items.READ_MULTIPLE`` times ``max_response_bytes`` to read."""
        with generic_read_budget(self.max_response_bytes):
            return self._exchange(path, operation, deadline, params, headers, decode, reader)

    def post_json_dated(
        self,
        path: str,
        operation: str,
        *,
        deadline: float,
        body: bytes,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        decode: Callable[[bytes], Any] = decode_json,
        reader: Callable[[int], BodyReader] | None = None,
    ) -> tuple[Any, float | None]:
        """``get_json_dated`` for an API that searches by POST (ModelArts' training jobs):
        ``body`` is sent as it is, ``Content-Type: application/json`` unless ``headers`` say
        otherwise, and a signer signs its hash. The same deadline, size cap, item limit, error
        classification and scrubbing apply, and the same retry policy: none within a poll, the
        next poll asks again. That is safe only because such a search reads and changes
        nothing, as a GET; never send a POST that creates or changes something through it."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        with generic_read_budget(self.max_response_bytes):
            return self._exchange(
                path, operation, deadline, params, sent, decode, reader, method="POST", body=body
            )

    def _exchange(
        self,
        path: str,
        operation: str,
        deadline: float,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        decode: Callable[[bytes], Any],
        reader: Callable[[int], BodyReader] | None,
        *,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[Any, float | None]:
        self._wait_for_slot(operation, deadline)
        started = time.monotonic()
        remaining = deadline - started
        if remaining <= 0:
            raise PollError("timeout", f"{operation}: poll deadline passed before the request")
        code, streamed, reading = "error", None, 0.0  # reading: seconds spent in the reader
        try:
            with (
                deadline_scope(deadline),
                self._client.stream(
                    method,
                    path,
                    params=params,
                    headers=headers,
                    content=body,
                    timeout=httpx.Timeout(remaining),
                    extensions=self._extensions,
                ) as response,
            ):
                code = str(response.status_code)
                if reader is not None and 200 <= response.status_code < 300:
                    streamed = reader(item_limit(self.max_response_bytes))
                    reading = self._stream(streamed, response, operation, deadline)
                else:
                    body = read_body(response, operation, self.max_response_bytes, deadline)
        except httpx.TransportError as err:
            error = transport_error(operation, err, deadline)
            if error.reason == "timeout":
                code = "timeout"
            raise error from None
        except PollError as err:
            if err.reason == "timeout":
                code = "timeout"
            raise
        finally:
            self.stats.record(operation, code, time.monotonic() - started - reading)
        if streamed is not None:
            try:
                return streamed.finish(), server_date(response)
            except UndecodableJson as err:
                raise self._not_json(operation, err, streamed.start) from None
            except TooManyItems as err:
                raise too_many(operation, err, self.max_response_bytes) from None
            except TooCostly as err:
                raise too_costly(operation, err, self.max_response_bytes) from None
        return self._whole(operation, response, body, decode), server_date(response)

    def _stream(
        self, streamed: BodyReader, response: httpx.Response, operation: str, deadline: float
    ) -> float:
        """Feed a successful answer's body to ``streamed`` as it arrives; the seconds spent in
        the reader (abandoned on any failure)."""
        limit, reading = self.max_response_bytes, 0.0
        try:
            check_media_type(response, self.content_type, operation)
            for piece in body_pieces(response, operation, limit, deadline):
                fed = time.monotonic()
                try:
                    streamed.feed(piece)
                except UndecodableJson as err:
                    raise self._not_json(operation, err, streamed.start) from None
                except TooManyItems as err:
                    raise too_many(operation, err, limit) from None
                except TooCostly as err:
                    raise too_costly(operation, err, limit) from None
                reading += time.monotonic() - fed
        except BaseException:
            streamed.abandon()
            raise
        return reading

    def _whole(
        self,
        operation: str,
        response: httpx.Response,
        body: bytes,
        decode: Callable[[bytes], Any],
    ) -> Any:
        """A body read whole: its items counted, an error classified, else decoded."""
        try:  # before anything is made of it, an error answer's body too
            check_items(body, item_limit(self.max_response_bytes))
        except TooManyItems as err:
            raise too_many(operation, err, self.max_response_bytes) from None
        if response.status_code >= 400:
            # what this request sent (signatures, tokens re-read from files, STS keys) is
            # masked too, not only the configured secrets
            scrub = self.scrub.extended(header_secrets(response.request.headers))
            raise self.classify_error(operation, response, body, scrub)
        if response.status_code >= 300:
            raise PollError(
                "http", f"{operation}: unexpected redirect (HTTP {response.status_code})"
            )
        check_media_type(response, self.content_type, operation)
        try:
            return decode(body)
        except UndecodableJson as err:
            raise self._not_json(operation, err, body) from None
        except TooCostly as err:
            raise too_costly(operation, err, self.max_response_bytes) from None

    def _not_json(self, operation: str, err: UndecodableJson, body: bytes) -> PollError:
        detail = f"{operation}: response is not JSON ({err}): {self.scrub.body(body, 120)}"
        return PollError("parse", detail)

    def _wait_for_slot(self, operation: str, deadline: float) -> None:
        """The per-target rate limit: requests at least 1/requests_per_second apart."""
        if not self._interval:
            return
        with self._slot_lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            if slot > deadline:
                raise PollError(
                    "timeout", f"{operation}: rate limit leaves no time before the deadline"
                )
            self._next_slot = slot + self._interval
        time.sleep(slot - now)
