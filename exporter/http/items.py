"""How many items one answer may hold: what bounds the memory of reading it.

``max_response_bytes`` caps an answer's bytes, but reading it makes Python objects, and what
they cost depends on how many items it lists, not on its bytes: each item of a job list
becomes a typed record and then a ``Job``, ~300-550 bytes whatever its size in the answer (an
answer of 18-byte items cost 21 times its bytes). So an answer may list at most
``max_response_bytes // ITEM_FLOOR`` items (``item_limit``): an answer at the byte cap whose
items average at least ``ITEM_FLOOR`` bytes always passes, and reading one that passes peaks
below 4 times the cap; ``ITEM_FLOOR`` is set by the worst case, EMR items of ten read fields
with one-character values, 3.6 times (``bench/answer_memory.py``, docs/performance.md). Real
items are larger (a Ray job ~530 B, EMR ~380 B, ModelArts ~230-280 B), and at the default cap
the limit is 559,240 items in one answer: no real fleet meets it before the byte cap.

Every answer is held to it before any of its items is decoded, in one place: the HTTP client
(``http.ApiClient``) counts a whole body (``check_items``) before handing it to a reader, and
gives the limit to a reader that takes an answer as it arrives (``listed.AnswerReader``, which
counts the items of each run it cuts before reading them). Over it, the poll fails with
``reason="too_large"`` and a message naming the count, the limit and the fix.

The items are the members of the answer's lists: of its top-level array, or of each array in
its top-level object or the objects within (to ``MAX_LEVELS``), as a job list sits in every
answer here; not what one item holds. They are counted by msgspec without being built: each
item becomes an empty record, counted as it is made and dropped at once (a set keeps one), so
the count takes no memory per item and time linear in the bytes. An answer that count cannot
read (a list member that is no object, ``NaN``, a nesting deeper than the readers go, no
JSON) is counted again with ``NaN`` and ``Infinity`` taken for numbers; failing that, it is
held to its commas and one, never fewer than it lists: in each list, every member but the
first follows a comma, and the lists counted hang from a tree of objects whose members are
separated by commas too, one list more than those commas at most.

An answer (or an item) that the typed readers refuse (``NaN``, bytes that are not UTF-8, a
nested value where a field is read) is read generically (``decode.decode_json``): every value
becomes a Python object, whatever its size, and the count of items no longer bounds the cost.
So the generic read of a body is estimated before it starts (``generic_read_cost``: its bytes
held, its text, and ``GENERIC_VALUE_BYTES`` per JSON value, counted by the characters that
begin one: ``,`` ``:`` ``[`` ``{``), and refused (``TooCostly``, the poll's ``reason="too_large"``)
when the estimate passes ``READ_MULTIPLE`` times ``max_response_bytes``. The budget is set for the
thread by the HTTP client around each request (``generic_read_budget``); without one (a
reader used alone, tests) nothing is refused.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec

from exporter.errors import PollError

ITEM_FLOOR = 240  # bytes of max_response_bytes per item an answer may list (measured: bench)
MAX_LEVELS = 6  # objects opened from the top in search of lists
READ_MULTIPLE = 4  # reading an answer peaks below this many times max_response_bytes
# the most one JSON value costs read generically, its share of its container included: 95 B
# measured for one-key objects of distinct keys, the costliest shape (docs/performance.md)
GENERIC_VALUE_BYTES = 96
OPEN_CONTAINERS = 1024  # unclosed containers a JSON reader holds before it stops (orjson's depth)


def item_limit(max_response_bytes: int) -> int:
    """The most items an answer may list under ``max_response_bytes``."""
    return max(max_response_bytes // ITEM_FLOOR, 1)


class TooManyItems(Exception):
    """An answer lists more items than ``limit``: ``count`` of them, or at least that many
    (``at_least``: it was stopped there), or at most (``counted`` False: its commas allow
    that many, as it could not be counted item by item)."""

    def __init__(self, count: int, limit: int, *, at_least: bool = False, counted: bool = True):
        super().__init__(f"{count} items over {limit}")
        self.count, self.limit, self.at_least, self.counted = count, limit, at_least, counted


def too_many(operation: str, err: TooManyItems, max_response_bytes: int) -> PollError:
    """The poll's error for an answer over the item limit; no content of the answer."""
    if not err.counted:
        count = f"up to {err.count:,} items (by its commas: it cannot be read item by item)"
    elif err.at_least:
        count = f"at least {err.count:,} items (reading stopped there)"
    else:
        count = f"{err.count:,} items"
    return PollError(
        "too_large",
        f"{operation}: answer lists {count}, over the limit of {err.limit:,} "
        f"(max_response_bytes {max_response_bytes:,} / {ITEM_FLOOR} bytes an item); "
        f"raise max_response_bytes to read it",
    )


_tally = threading.local()  # the items counted in this thread (polls run in several at once)


class _Item(msgspec.Struct, frozen=True, gc=False):
    """Any object, its members skipped unread; counted when made. Empty and frozen, every one
    equals every other, so a set of them holds one."""

    def __post_init__(self) -> None:
        _tally.count += 1


_SCALAR = str | int | float | bool | None
_LIST = frozenset[_Item | bool | None]  # null and true/false members cost nothing: not counted


def _shape() -> Any:
    shape: Any = _LIST | _SCALAR
    for _ in range(MAX_LEVELS):
        shape = _LIST | dict[str, shape] | _SCALAR
    return shape


_COUNTER = msgspec.json.Decoder(_shape())
_CONSTANTS = re.compile(rb"NaN|Infinity")


def check_items(body: bytes | bytearray, limit: int, before: int = 0) -> None:
    """Raise ``TooManyItems`` when ``body`` lists more than ``limit`` items with the
    ``before`` already read of its answer. Quick when its commas allow no more."""
    bound = body.count(b",") + 1  # no fewer than it lists (the module's docstring)
    if before + bound <= limit:
        return
    count, counted = count_items(body, bound)
    if before + count > limit:
        raise TooManyItems(before + count, limit, counted=counted)


def count_items(body: bytes | bytearray, bound: int) -> tuple[int, bool]:
    """(the items ``body`` lists, True) or, when it cannot be counted, (``bound``, False)."""
    count = _exact(body)
    if count is None and (b"NaN" in body or b"Infinity" in body):
        count = _exact(_CONSTANTS.sub(b"0", body))  # a copy, taken only for such answers
    return (bound, False) if count is None else (count, True)


def _exact(body: bytes | bytearray) -> int | None:
    _tally.count = 0
    try:
        _COUNTER.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        return None
    return _tally.count


class TooCostly(Exception):
    """Reading a body generically would cost about ``cost`` bytes, over ``budget``."""

    def __init__(self, size: int, cost: int, budget: int) -> None:
        super().__init__(f"about {cost} bytes over {budget}")
        self.size, self.cost, self.budget = size, cost, budget


def too_costly(operation: str, err: TooCostly, max_response_bytes: int) -> PollError:
    """The poll's error for an answer too costly to read generically; no content of it."""
    return PollError(
        "too_large",
        f"{operation}: answer of {err.size:,} bytes is not in the shape the typed reader takes"
        f" (NaN, bytes that are not UTF-8, or a nested value where a field is read) and would"
        f" take about {err.cost / 2**20:,.0f} MiB to read generically, over {READ_MULTIPLE} times"
        f" max_response_bytes ({max_response_bytes:,}); raise max_response_bytes to read it",
    )


_generic_budget: ContextVar[int | None] = ContextVar("generic_budget", default=None)


@contextmanager
def generic_read_budget(max_response_bytes: int) -> Iterator[None]:
    """Within it, in this thread, a generic read estimated over ``READ_MULTIPLE`` times
    ``max_response_bytes`` raises ``TooCostly`` (``check_generic_read``)."""
    token = _generic_budget.set(READ_MULTIPLE * max_response_bytes)
    try:
        yield
    finally:
        _generic_budget.reset(token)


def generic_read_cost(body: bytes | bytearray) -> int:
    """An upper bound of the memory a generic read of ``body`` takes: the bytes, held while
    read; its text and the characters of its strings, one to four bytes a character as
    Python stores them (by its widest one); and ``GENERIC_VALUE_BYTES`` per value.

    A value follows each ``,`` and ``:``; a container is a value once it is closed, and a
    read that fails holds at most ``OPEN_CONTAINERS`` unclosed ones (the readers' depth)."""
    widest = max(body, default=0)
    width = 1 if widest < 0x80 else 2 if widest < 0xF0 else 4
    opened = body.count(b"[") + body.count(b"{")
    closed = body.count(b"]") + body.count(b"}")
    values = body.count(b",") + body.count(b":") + min(opened, closed + OPEN_CONTAINERS) + 1
    return len(body) * (1 + 2 * width) + values * GENERIC_VALUE_BYTES


def check_generic_read(body: bytes | bytearray) -> None:
    """Raise ``TooCostly`` when reading ``body`` generically may pass the thread's budget.
    Quick for a body that could not pass it whatever it holds (an item, a small answer)."""
    budget = _generic_budget.get()
    # at most 9 bytes a byte of body and text, and one value a byte and one more
    if budget is None or (len(body) + 1) * (9 + GENERIC_VALUE_BYTES) <= budget:
        return
    cost = generic_read_cost(body)
    if cost > budget:
        raise TooCostly(len(body), cost, budget)
