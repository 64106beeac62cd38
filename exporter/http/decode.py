"""A backend's JSON answer as Python values: fast when it is clean, lenient when a part is not.

orjson reads the common answer (about twice as fast as json on large job lists). An answer it
refuses is read again by json with lenient hooks, so that one bad item never costs the others:

- bytes that are not UTF-8 become U+FFFD (the job keeps its place, its text shows the damage);
- numbers no field can use become null, so the field reads as unset: integers longer than
  ``MAX_INTEGER_DIGITS`` (Python refuses to read more than 4,300 digits at all), and the
  ``NaN``/``Infinity`` constants json accepts;
- an item nested deeper than json reads (Python's recursion limit: about 1,000 levels; orjson
  reads 1,024) becomes null, so its reader skips and counts it as an item of the wrong shape.
  The item is the outermost member of an array that holds the deep value (in every answer
  here, a member of the job list). Only once json has found the answer too deep, the answer
  is read again from its top by hand (``_read_too_deep``), each member whole by json, and an
  item too deep is stepped over unread, its brackets outside strings counted a stretch at a
  time (``_end_of_container``): time linear in its size, never recursion on its depth;
- an answer nested that deep in no array (objects only, from its top to past ``MAX_WALK``
  levels), or holding nothing but the nesting (not one ``,`` outside its strings, as
  ``[[[[…]]]]``: no other item to keep), is refused quickly, as
  ``UndecodableJson("nested too deep")``.

``typed_decoder`` reads a large answer straight into typed records (msgspec Structs), without
the generic tree: keys no parser reads are skipped unread. An answer the typed reader refuses
(a shape it does not expect, bad UTF-8, NaN, a number out of range) is read by ``decode_json``
instead, so every tolerance above holds; parsers take either form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate, repeat
from typing import Any

import msgspec
import orjson

from exporter.http.items import check_generic_read

MAX_INTEGER_DIGITS = 40  # far past 64 bits: no count, size or time a backend reports is longer
MAX_WALK = 16  # levels read by hand, from the top, to the list whose member is too deep


class UndecodableJson(ValueError):
    """The answer is not JSON, even read leniently; the message says why, without its content."""


def _integer(digits: str) -> int | None:
    return int(digits) if len(digits) <= MAX_INTEGER_DIGITS else None


def _constant(name: str) -> None:  # NaN, Infinity, -Infinity
    return None


_LENIENT = json.JSONDecoder(parse_int=_integer, parse_constant=_constant)


def decode_json(body: bytes) -> Any:
    """``body`` as JSON values; raises ``UndecodableJson`` when it cannot be read at all, and
    ``items.TooCostly`` when building them may pass the memory budget of the read."""
    check_generic_read(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    text = body.decode(json.detect_encoding(body), "replace")  # UTF-8 unless a BOM says else
    try:
        return _LENIENT.decode(text)
    except RecursionError:
        return _read_too_deep(text)
    except ValueError as err:
        raise UndecodableJson(str(err)) from None  # where, never what: no content


_SPACE = re.compile(r"[ \t\n\r]*")
_BLANKS = frozenset(" \t\n\r")
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
# text and whole strings, up to a string the end position cuts (possessive: no backtracking)
_UNCUT = re.compile(r'(?:[^"]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
# from the start to the first "," outside strings
_UNTIL_COMMA = re.compile(r'(?:[^",]++|"(?:[^"\\]++|\\.)*+")*+,', re.DOTALL)
# runs of opening brackets, of closing ones, whole strings, the quote of a string never closed
_TOKENS = re.compile(r'([\[{]++)|([\]}]++)|"(?:[^"\\]++|\\.)*+"|(")', re.DOTALL)
# a stretch of text without its strings: "[" and "]" for its brackets, no other ASCII
_BRACKETS_ONLY = {c: None for c in range(128) if chr(c) not in "[]{}"} | {123: "[", 125: "]"}
_DEPTH = {"[": 1, "]": -1}
_RUNS = re.compile(r"\[+|\]+")
_FIRST_STRETCH, _LAST_STRETCH = 4096, 1 << 20  # characters whose brackets are counted at once


def _read_too_deep(text: str) -> Any:
    """``text``, which the lenient parser found nested too deep, read from its top by hand: each
    member whole by the parser, a member of an array too deep as null (its item reader skips
    it), a member of an object too deep opened in turn, at most ``MAX_WALK`` levels down."""
    if _UNTIL_COMMA.match(text) is None:
        raise UndecodableJson("nested too deep")  # nothing but the nesting: no item to keep
    position = _SPACE.match(text).end()
    root: list[Any] | dict[str, Any] = [] if text.startswith("[", position) else {}
    parents: list[tuple[dict[str, Any], str]] = []  # the objects opened by hand, and the key
    container, key, position, more = root, "", position + 1, False  # more: after a member
    while True:
        listed = type(container) is list
        closer = "]" if listed else "}"
        position = _SPACE.match(text, position).end()
        opened = False
        if more or not text.startswith(closer, position):
            while True:  # the container's members, up to its closing bracket
                if more:
                    char = text[position : position + 1]
                    if char == closer:
                        break
                    if char != ",":
                        raise UndecodableJson(f"Expecting ',' delimiter: char {position}")
                    position = _SPACE.match(text, position + 1).end()
                more = True
                can_open = len(parents) + 1 < MAX_WALK
                key, member, position, opened = _member(text, position, listed, can_open)
                if opened:
                    break
                if listed:
                    container.append(member)
                else:
                    container[key] = member
                if text[position : position + 1] in _BLANKS:
                    position = _SPACE.match(text, position).end()
        if opened:
            parents.append((container, key))
            container = [] if text.startswith("[", position) else {}
            position, more = position + 1, False
            continue
        position += 1  # past the closing bracket
        if not parents:
            if _SPACE.match(text, position).end() != len(text):
                raise UndecodableJson(f"Extra data: char {position}")
            return root
        parent, key = parents.pop()
        parent[key] = container
        container, more = parent, True


def _member(text: str, position: int, listed: bool, can_open: bool) -> tuple[str, Any, int, bool]:
    """One member of a container read by hand: (its key, its value, where it ends, False);
    a member of an array too deep to read becomes null, its reader skips it; a member of an
    object too deep is (its key, None, where its value starts, True) to be opened in turn,
    when ``can_open``."""
    key = ""
    try:
        if not listed:
            key, position = _key(text, position)
        member, position = _LENIENT.scan_once(text, position)
    except RecursionError:
        if listed:  # an item too deep: null, which its reader skips and counts
            return key, None, _end_of_container(text, position), False
        if can_open and text.startswith(("[", "{"), position):
            return key, None, position, True
        raise UndecodableJson("nested too deep") from None
    except StopIteration:
        raise UndecodableJson(f"Expecting value: char {position}") from None
    except ValueError as err:
        raise UndecodableJson(str(err)) from None  # where, never what
    return key, member, position, False


def _key(text: str, position: int) -> tuple[str, int]:
    """An object member's key, and where its value starts."""
    if not text.startswith('"', position):
        raise UndecodableJson(f"Expecting property name in double quotes: char {position}")
    key, position = json.decoder.scanstring(text, position + 1, True)
    position = _SPACE.match(text, position).end()
    if not text.startswith(":", position):
        raise UndecodableJson(f"Expecting ':' delimiter: char {position}")
    return key, _SPACE.match(text, position + 1).end()


def _end_of_container(text: str, start: int) -> int:
    """Just past the closing bracket of the array or object opened at ``start``, its brackets
    outside strings counted in C a stretch at a time (the stretch doubling, so that a small
    container costs little), then, in the stretch where the count comes back to its level,
    halved down to a few hundred characters read token by token."""
    depth, position, stretch = 1, start + 1, _FIRST_STRETCH
    while True:
        stop = _cut(text, position, position + stretch)
        if _closes_within(text, position, stop, depth):
            break
        depth += _change(text, position, stop)
        position, stretch = stop, min(2 * stretch, _LAST_STRETCH)
    while stop - position > 256:
        middle = _cut(text, position, (position + stop) // 2)
        if middle >= stop:
            break
        if _closes_within(text, position, middle, depth):
            stop = middle
        else:
            depth += _change(text, position, middle)
            position = middle
    for token in _TOKENS.finditer(text, position, stop):
        run = token.end() - token.start()
        if token.lastindex == 1:
            depth += run
        elif token.lastindex == 2:
            if run >= depth:
                return token.start() + depth
            depth -= run
    raise UndecodableJson("nested too deep")  # not reached: the count came back within


def _cut(text: str, start: int, end: int) -> int:
    """A place after ``start``, at ``end`` or before it unless one string is longer, that is
    not inside a string; ``UndecodableJson`` at the end of ``text`` or in a string never
    closed (the container never closes)."""
    cut = _UNCUT.match(text, start, end).end()
    if cut > start:
        return cut
    string = _STRING.match(text, start)
    if string is None:
        raise UndecodableJson("nested too deep")
    return string.end()


def _closes_within(text: str, start: int, end: int, depth: int) -> bool:
    """Whether the count of brackets, ``depth`` at ``start``, comes down to 0 before ``end``:
    run by run where they are few (``[[[[…]]]]``), else bracket by bracket, both in C."""
    brackets = _brackets(text, start, end)
    closing = brackets.count("]")
    if closing < depth:
        return False
    if depth + brackets.count("[") - closing <= 0:
        return True
    if brackets.count("][") < 64:
        for run in _RUNS.finditer(brackets):
            length = run.end() - run.start()
            depth += length if brackets[run.start()] == "[" else -length
            if depth <= 0:
                return True
        return False
    return min(accumulate(map(_DEPTH.get, brackets, repeat(0)), initial=depth)) <= 0


def _change(text: str, start: int, end: int) -> int:
    brackets = _brackets(text, start, end)
    return brackets.count("[") - brackets.count("]")


def _brackets(text: str, start: int, end: int) -> str:
    """The brackets of ``text[start:end]`` outside strings, "{" as "[" and "}" as "]" (and
    any character outside ASCII there: none in valid JSON, never counted)."""
    return _STRING.sub("", text[start:end]).translate(_BRACKETS_ONLY)


# What a typed record's field holds: a value no larger than its text. A nested object or array
# where a field is read makes the typed reader refuse the item, which is then read generically,
# its cost estimated first (``items.check_generic_read``), instead of being built unbounded here.
Scalar = str | int | float | bool | None


class TypedRecord(msgspec.Struct, gc=False):
    """A record read straight from an answer: its fields are the keys a parser reads, typed as
    loosely as their quirks need (keys it does not read are skipped unread). It reads like a
    dict, so one parser serves it and the generic tree of an answer it did not fit.

    Not tracked by the garbage collector (16 bytes less a record, and no collection walks a
    large answer's records): what is decoded from JSON holds no reference cycle."""

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
