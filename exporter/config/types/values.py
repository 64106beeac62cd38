"""The value types settings are made of: durations, counts, unions refused as one problem,
host names, region ids, sections left empty, and ``Strict``, the base of every settings model."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WrapValidator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """``30s``, ``5m``, ``1h30m``, ``250ms`` or a plain number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    "bad duration: use a number with a unit, such as 30s, 5m or 1h"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError("must be a duration such as 30s, 5m or 1h")
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _not_boolean(value: Any) -> Any:
    """A YAML ``true`` is no count: as an int it would read as 1."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


Count = Annotated[int, BeforeValidator(_not_boolean)]  # a count or size (``${NAME}`` too)


def one_of(problem: str) -> WrapValidator:
    """A union's value refused as one problem: pydantic would list one per member type
    (``labels.team.str: ...`` and ``labels.team.dict[str,str]: ...``), naming Python types."""

    def validate(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(problem) from None

    return WrapValidator(validate)


HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
REGION_ID = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")  # cn-hangzhou, cn-north-4


def _empty_if_none(value: Any) -> Any:
    """A YAML section left with only comments is null: read it as an empty section."""
    return {} if value is None else value


EmptyIfNone = BeforeValidator(_empty_if_none)


class Strict(BaseModel):
    """A settings model: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
