"""The types a configuration is built from, by concern: ``errors`` (``ConfigError``),
``values`` (durations, counts, ``Strict``), ``urls``, ``credentials`` (secrets, header values,
bearer tokens), ``tls``, ``defaults`` (the settings a target inherits), ``metrics`` (the
families shown), ``target`` (``Target``, which each backend's target model extends) and
``cloud`` (what the cloud backends' targets share: paired secrets, region or endpoint).

Every backend imports these from here; ``config`` builds the whole configuration from them and
from the backends' declarations.
"""

from __future__ import annotations

from exporter.config.types.cloud import PairedSecrets, RegionalTarget
from exporter.config.types.credentials import (
    HEADER_VALUE_RULE,
    BearerCredentials,
    FileSecret,
    HeaderName,
    HeaderValue,
    Secret,
    SecretFile,
    TokenFilePath,
    check_environment_credentials,
)
from exporter.config.types.defaults import (
    MAX_LABEL_NAME_SHOWN,
    MAX_SOURCE_LENGTH,
    AttributionSettings,
    Defaults,
    PerJobSeries,
)
from exporter.config.types.errors import MAX_PROBLEM_LENGTH, MAX_PROBLEMS, ConfigError, one_line
from exporter.config.types.metrics import MetricsSelection
from exporter.config.types.target import Target
from exporter.config.types.tls import ReadableFile, TlsConfig
from exporter.config.types.urls import ExactHttpUrl, HttpUrl, SignedHttpUrl, redact_url
from exporter.config.types.values import (
    HOST_NAME,
    REGION_ID,
    Count,
    Duration,
    EmptyIfNone,
    Strict,
    parse_duration,
)

__all__ = [
    "HEADER_VALUE_RULE",
    "HOST_NAME",
    "MAX_LABEL_NAME_SHOWN",
    "MAX_PROBLEMS",
    "MAX_PROBLEM_LENGTH",
    "MAX_SOURCE_LENGTH",
    "REGION_ID",
    "AttributionSettings",
    "BearerCredentials",
    "ConfigError",
    "Count",
    "Defaults",
    "Duration",
    "EmptyIfNone",
    "ExactHttpUrl",
    "FileSecret",
    "HeaderName",
    "HeaderValue",
    "HttpUrl",
    "MetricsSelection",
    "PairedSecrets",
    "PerJobSeries",
    "ReadableFile",
    "RegionalTarget",
    "Secret",
    "SecretFile",
    "SignedHttpUrl",
    "Strict",
    "Target",
    "TlsConfig",
    "TokenFilePath",
    "check_environment_credentials",
    "one_line",
    "parse_duration",
    "redact_url",
]
