"""A backend's JSON answer as Python values: fast when it is clean, lenient when a part is not.

orjson reads the common answer (about twice as fast as json on large job lists). An answer it
refuses is read again by json with lenient hooks, so that one bad item never costs the others:

- bytes that are not UTF-8 become U+FFFD (the job keeps its place, its text shows the damage);
- numbers no field can use become null, so the field reads as unset: integers longer than
  ``MAX_INTEGER_DIGITS`` (Python refuses to read more than 4,300 digits at all), and the
  ``NaN``/``Infinity`` constants json accepts;
- a document nested deeper than the parser's recursion limit is refused quickly, as
  ``UndecodableJson``, instead of escaping as a ``RecursionError``.

``typed_decoder`` reads a large answer straight into typed records (msgspec Structs), without
the generic tree: keys no parser reads are skipped unread. An answer the typed reader refuses
(a shape it does not expect, bad UTF-8, NaN, a number out of range) is read by ``decode_json``
instead, so every tolerance above holds; parsers take either form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

MAX_INTEGER_DIGITS = 40  # far past 64 bits: no count, size or time a backend reports is longer


class UndecodableJson(ValueError):
    """The answer is not JSON, even read leniently; the message says why, without its content."""


def _integer(digits: str) -> int | None:
    return int(digits) if len(digits) <= MAX_INTEGER_DIGITS else None


def _constant(name: str) -> None:  # NaN, Infinity, -Infinity
    return None


_LENIENT = json.JSONDecoder(parse_int=_integer, parse_constant=_constant)


def decode_json(body: bytes) -> Any:
    """``body`` as JSON values; raises ``UndecodableJson`` when it cannot be read at all."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    text = body.decode(json.detect_encoding(body), "replace")  # UTF-8 unless a BOM says else
    try:
        return _LENIENT.decode(text)
    except RecursionError:
        raise UndecodableJson("nested too deep") from None
    except ValueError as err:
        raise UndecodableJson(str(err)) from None  # where, never what: no content


class TypedRecord(msgspec.Struct):
    """A record read straight from an answer: its fields are the keys a parser reads, typed as
    loosely as their quirks need (keys it does not read are skipped unread). It reads like a
    dict, so one parser serves it and the generic tree of an answer it did not fit."""

    def get(self, key: str) -> Any:
        return getattr(self, key, None)


def typed_decoder(kind: Any) -> Callable[[bytes], Any]:
    """A decoder of bodies into ``kind`` (e.g. ``list[SomeStruct]``), falling back to
    ``decode_json`` for any body it refuses."""
    decoder = msgspec.json.Decoder(kind)

    def decode(body: bytes) -> Any:
        try:
            return decoder.decode(body)
        except (msgspec.MsgspecError, RecursionError):  # RecursionError: nested too deep
            return decode_json(body)

    return decode
