"""The declared backends are what configuration, the chart and the demo know."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Literal

import pytest

from exporter.backends import BUILT_IN, registry
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError, Target

from .helpers import ROOT

SCHEMA = ROOT / "helm" / "jobfleet-exporter" / "values.schema.json"


def test_the_chart_schema_enum_is_generated_from_the_declared_backends() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/chart_schema.py", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    targets = json.loads(SCHEMA.read_text())["properties"]["config"]["properties"]["targets"]
    assert targets["items"]["properties"]["backend"]["enum"] == list(registry.names())


def test_an_unknown_backend_is_refused_naming_every_declared_one() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"targets": [{"name": "t", "backend": "nosuch"}]})
    assert refused.value.problems == [
        f"targets[0].backend: must be one of: {', '.join(registry.names())}"
    ]


def test_each_name_selects_one_declaration_and_a_taken_name_is_refused() -> None:
    assert {name for declared in BUILT_IN for name in declared.names} == set(registry.names())
    for declared in BUILT_IN:
        for name in declared.names:
            assert registry.declaration(name) is declared
    with pytest.raises(ValueError, match="already declared"):
        registry.register(registry.BackendDeclaration(**{**vars(BUILT_IN[0])}))


class _Colliding(Target):
    backend: Literal["ray", "ray_copy"]


class _NotLiteral(Target):
    backend: str = "mine"


class _OddName(Target):
    backend: Literal["", "Mine!"]


class _NotATarget:
    pass


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        (_Colliding, ValueError, "backend names already declared: ray"),
        (_NotLiteral, TypeError, "_NotLiteral.backend must be a Literal of names"),
        (_OddName, TypeError, "lower-case letters, digits and _ (not '', 'Mine!')"),
        (_NotATarget, TypeError, "_NotATarget must be a model that extends config_types.Target"),
    ],
)
def test_a_declaration_that_cannot_be_registered_says_why(model, error, message) -> None:
    """Refused whole, with a line naming the model: no name of it is registered."""
    declared = dataclasses.replace(registry.declaration("ray"), target=model)
    with pytest.raises(error) as raised:
        registry.register(declared)
    assert message in str(raised.value)
    assert "ray_copy" not in registry.names() and "" not in registry.names()
