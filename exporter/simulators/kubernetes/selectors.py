"""Label selectors as the API server reads them: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``,
``a in (x,y)``, ``a notin (x,y)``, joined by commas; all must hold."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Requirement = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)\s*")
_EQUAL = re.compile(r"\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*")
_EXISTS = re.compile(r"\s*(!?)([A-Za-z0-9./_-]+)\s*")


class BadSelector(ValueError):
    pass


def _split(text: str) -> list[str]:
    """The requirements of a selector: commas outside parentheses separate them."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _requirement(part: str) -> Requirement:
    if match := _SET.fullmatch(part):
        key, operator, values = match.groups()
        allowed = {value.strip() for value in values.split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if match := _EQUAL.fullmatch(part):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.fullmatch(part):
        negated, key = match.groups()
        return lambda labels: (key in labels) != bool(negated)
    raise BadSelector(f"unable to parse requirement: {part.strip()!r}")


def parse_selector(text: str) -> Requirement:
    """The test a ``labelSelector`` query value sets; BadSelector when it cannot be read."""
    if not text.strip():
        return lambda labels: True
    requirements = [_requirement(part) for part in _split(text)]
    return lambda labels: all(requirement(labels) for requirement in requirements)
