"""The native histogram settings: defaults, inherited and overridden per target, in the ledger
a target polls with; refused with a line naming the field, never the value."""

from __future__ import annotations

import pytest

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.config.types import ConfigError
from exporter.exposition.native_histogram import (
    DEFAULT_SCHEMA,
    DEFAULT_ZERO_THRESHOLD,
    NativeSettings,
)
from exporter.simulators.ray import RaySimulator

RAY = {"name": "a", "backend": "ray", "url": "http://127.0.0.1:1"}


def test_targets_inherit_the_defaults_and_may_override_them() -> None:
    config = parse_config(
        {
            "defaults": {"native_histograms": {"schema": 5}},
            "targets": [RAY, {**RAY, "name": "b", "native_histograms": {"zero_threshold": "1e-3"}}],
        }
    )
    settings = [t.native_histograms.settings() for t in config.targets]
    assert settings == [
        NativeSettings(5, DEFAULT_ZERO_THRESHOLD),
        NativeSettings(DEFAULT_SCHEMA, 0.001),  # a target's own section replaces the defaults'
    ]
    plain = parse_config({"targets": [RAY]}).targets[0].native_histograms
    assert plain.settings() == NativeSettings(3, 2.0**-128)


def test_enabled_false_keeps_none_and_a_target_may_turn_them_back_on() -> None:
    config = parse_config(
        {
            "defaults": {"native_histograms": {"enabled": False, "schema": 5}},
            "targets": [
                RAY,
                {**RAY, "name": "b", "native_histograms": {"enabled": True}},
                {**RAY, "name": "c", "native_histograms": {"enabled": "${NATIVE}"}},
            ],
        },
        environ={"NATIVE": "False"},  # a text from the environment reads as the boolean
    )
    settings = [t.native_histograms.settings() for t in config.targets]
    # a target's own section replaces the defaults' whole: b's schema is the default again
    assert settings == [None, NativeSettings(DEFAULT_SCHEMA, DEFAULT_ZERO_THRESHOLD), None]


@pytest.mark.slow
def test_a_target_s_ledgers_keep_native_histograms_of_its_settings() -> None:
    with RaySimulator() as head:
        target = head.target_config("ray", resources=["jobs"])
        target["native_histograms"] = {"schema": -1, "zero_threshold": 0.25}
        exporter = Exporter(parse_config({"targets": [target]}))
        try:
            ledger = exporter.pollers[0].counted["jobs"].ledger
        finally:
            exporter.close()
    assert ledger.native == NativeSettings(-1, 0.25)
    duration = next(iter(ledger.duration.values()))
    assert duration.native is not None and duration.native.schema == -1


@pytest.mark.parametrize(
    ("given", "line"),
    [
        ({"schema": 9}, "defaults.native_histograms.schema: must be a whole number from -4 to 8"),
        ({"schema": -5}, "defaults.native_histograms.schema: must be a whole number from -4 to 8"),
        ({"schema": True}, "defaults.native_histograms.schema: must be a whole number, not true"),
        ({"zero_threshold": -1}, "defaults.native_histograms.zero_threshold: must be a number of"),
        ({"zero_threshold": ".nan"}, "defaults.native_histograms.zero_threshold: must be a number"),
        ({"zero_threshold": "s3cr3t"}, "defaults.native_histograms.zero_threshold: must be a"),
        ({"max_buckets": 10}, "defaults.native_histograms.max_buckets: "),
        ({"enabled": 1}, "defaults.native_histograms.enabled: must be true or false"),
        ({"enabled": "yes"}, "defaults.native_histograms.enabled: must be true or false"),
        ({"enabled": "s3cr3t"}, "defaults.native_histograms.enabled: must be true or false"),
        ({"enabled": None}, "defaults.native_histograms.enabled: must be true or false"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field(given: dict, line: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"defaults": {"native_histograms": given}, "targets": [RAY]})
    (problem,) = refused.value.problems
    assert problem.startswith(line) and "s3cr3t" not in problem
