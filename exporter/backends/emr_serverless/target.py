"""The configuration of an EMR Serverless Spark target: its workspace, where the API is, the
Alibaba Cloud keys it signs with (from the config, files, the environment or RRSA), what it
polls and its list filters."""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from exporter.auth import alibaba_credentials
from exporter.auth.alibaba_credentials import CredentialProvider
from exporter.config.types import (
    Count,
    Duration,
    EmptyIfNone,
    PairedSecrets,
    RegionalTarget,
    Secret,
    SecretFile,
    SignedHttpUrl,
    Strict,
    check_environment_credentials,
    redact_url,
)


class AlibabaCredentials(PairedSecrets):
    """Keys from here (each also as ``*_file``); else ALIBABA_CLOUD_* variables; else RRSA."""

    FILED = ("access_key_id", "access_key_secret", "security_token")
    KEY_PAIR = ("access_key_id", "access_key_secret")

    access_key_id: Secret | None = None
    access_key_id_file: SecretFile | None = None
    access_key_secret: Secret | None = None
    access_key_secret_file: SecretFile | None = None
    security_token: Secret | None = None
    security_token_file: SecretFile | None = None
    sts_endpoint: SignedHttpUrl | None = None


class EmrFilters(Strict):
    """Sent to ListRayJob."""

    name: str | None = None
    task_biz_id: str | None = None


class SparkFilters(Strict):
    """Sent to ListJobRuns: each keeps the runs whose field equals it."""

    resource_queue_id: str | None = None
    creator: str | None = None
    name: str | None = None

    def query(self) -> dict[str, str]:
        """The filters set, as ListJobRuns parameters."""
        given = (
            ("resourceQueueId", self.resource_queue_id),
            ("creator", self.creator),
            ("name", self.name),
        )
        return {parameter: value for parameter, value in given if value}


# Spark job runs are not polled unless named: they need one more RAM action (ListJobRuns)
Resources = Literal["jobs", "clusters", "spark_runs", "queues"]


_WORKSPACE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class EmrServerlessTarget(RegionalTarget):
    """Ray jobs, Ray clusters and Spark job runs of an EMR Serverless Spark workspace."""

    REGION_EXAMPLE = "cn-hangzhou"

    backend: Literal["emr_serverless"]
    workspace_id: str
    network: Literal["public", "vpc"] = "public"
    credentials: Annotated[AlibabaCredentials, EmptyIfNone] = AlibabaCredentials()
    filters: Annotated[EmrFilters, EmptyIfNone] = EmrFilters()
    spark_filters: Annotated[SparkFilters, EmptyIfNone] = SparkFilters()
    resources: tuple[Resources, ...] = ("jobs", "clusters")
    # the queues of one environment only (ListWorkspaceQueues' ``environment``); None: all
    queue_environment: Literal["dev", "production"] | None = None
    full_list_interval: Duration = 3600.0
    max_pages: Count = Field(default=10_000, gt=0)

    @field_validator("workspace_id")
    @classmethod
    def _check_workspace(cls, workspace: str) -> str:
        if not _WORKSPACE.fullmatch(workspace):
            raise ValueError("must be a workspace id such as w-d2d82aa09155")
        return workspace

    @model_validator(mode="after")
    def _where(self) -> EmrServerlessTarget:
        provider = self.credential_provider()
        if provider is None:
            raise ValueError(
                "credentials: none found: set credentials.access_key_id and access_key_secret "
                "(or their *_file), or ALIBABA_CLOUD_ACCESS_KEY_ID and "
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET, or RRSA's ALIBABA_CLOUD_ROLE_ARN, "
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE"
            )
        if getattr(provider, "source", "").startswith("environment"):
            check_environment_credentials(
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "ALIBABA_CLOUD_SECURITY_TOKEN",
            )
        return self

    def credential_provider(self) -> CredentialProvider | None:
        """Where this target's keys come from, resolved as the Alibaba SDKs do."""
        creds = self.credentials
        return alibaba_credentials.resolve(
            creds.value("access_key_id"),
            creds.value("access_key_secret"),
            creds.value("security_token"),
            creds.sts_endpoint,
            os.environ,
        )

    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint
        host = "emr-serverless-spark-vpc" if self.network == "vpc" else "emr-serverless-spark"
        return f"https://{host}.{self.region}.aliyuncs.com"

    def endpoint_text(self) -> str:
        return f"{redact_url(self.base_url())} workspace={self.workspace_id}"

    def identity(self) -> dict[str, object]:
        return {
            "endpoint": redact_url(self.base_url()),
            "workspace": self.workspace_id,
            "filters": self.filters.model_dump(),
        }

    def resource_identity(self, resource: str) -> dict[str, object]:
        """The Spark job runs are seen through ``spark_filters``, not ``filters``."""
        if resource != "spark_runs":
            return super().resource_identity(resource)
        return {
            "endpoint": redact_url(self.base_url()),
            "workspace": self.workspace_id,
            "spark_filters": self.spark_filters.model_dump(),
        }

    def auth_text(self) -> str:
        provider = self.credential_provider()
        return f"ACS3 access key ({getattr(provider, 'source', 'unknown')})"
