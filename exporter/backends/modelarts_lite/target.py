"""The configuration of a ModelArts Lite target: its project, where the API is, the Huawei
Cloud credentials it authenticates with (AK/SK, an IAM token, their files or the
HUAWEICLOUD_SDK_* variables) and its list filters."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from exporter.auth.sdk_hmac import HuaweiKey
from exporter.config.types import (
    Count,
    Duration,
    EmptyIfNone,
    PairedSecrets,
    RegionalTarget,
    Secret,
    SecretFile,
    Strict,
    TokenFilePath,
    check_environment_credentials,
    redact_url,
)


class HuaweiCredentials(PairedSecrets):
    """AK/SK (each also as ``*_file``) or an IAM token; else HUAWEICLOUD_SDK_* variables."""

    FILED = ("access_key", "secret_key", "security_token", "auth_token")
    KEY_PAIR = ("access_key", "secret_key")

    access_key: Secret | None = None
    access_key_file: SecretFile | None = None
    secret_key: Secret | None = None
    secret_key_file: SecretFile | None = None
    security_token: Secret | None = None
    security_token_file: SecretFile | None = None
    auth_token: Secret | None = None
    auth_token_file: TokenFilePath | None = None  # re-read when it changes


class ModelArtsFilters(Strict):
    id: str | None = None
    name: str | None = None
    type: str | None = None
    status: str | None = None
    visible: bool | None = None


class TrainingFilters(Strict):
    """Sent with each training-job search: each keeps the jobs whose field equals it."""

    pool_id: str | None = None
    user_name: str | None = None

    def search(self) -> dict[str, tuple[str, list[str]]]:
        """The filters set, as search filters: key -> (operator, values)."""
        given = (("pool_id", self.pool_id), ("user_name", self.user_name))
        return {key: ("in", [value]) for key, value in given if value}


# Training jobs and pools are not polled unless named: they need more permissions (the search;
# the pool reads)
Resources = Literal["jobs", "training_jobs", "pools"]


_PROJECT = re.compile(r"[A-Za-z0-9-]{1,64}")


class ModelArtsLiteTarget(RegionalTarget):
    """The Lite Server jobs, training jobs and resource pools of one Huawei Cloud ModelArts
    project."""

    REGION_EXAMPLE = "cn-north-4"

    backend: Literal["modelarts_lite"]
    project_id: str | None = None
    credentials: Annotated[HuaweiCredentials, EmptyIfNone] = HuaweiCredentials()
    filters: Annotated[ModelArtsFilters, EmptyIfNone] = ModelArtsFilters()
    training_filters: Annotated[TrainingFilters, EmptyIfNone] = TrainingFilters()
    full_list_interval: Duration = 600.0
    job_type_cap: Count = Field(default=30, gt=0)
    max_pages: Count = Field(default=2_000, gt=0)  # of a training-job walk: 50 jobs a page
    max_node_pages: Count = Field(default=20, gt=0)  # of a pool's node walk: 500 nodes a page
    resources: tuple[Resources, ...] = ("jobs",)

    @model_validator(mode="after")
    def _complete(self) -> ModelArtsLiteTarget:
        project = self.project()
        if not project:
            raise ValueError("project_id: required (or set HUAWEICLOUD_SDK_PROJECT_ID)")
        if not _PROJECT.fullmatch(project):
            raise ValueError("project_id: must be 1-64 letters, digits or hyphens")
        found = self.auth()
        if found is None:
            raise ValueError(
                "credentials: none found: set credentials.access_key and secret_key (or their "
                "*_file), or credentials.auth_token (or auth_token_file), or "
                "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"
            )
        if found[0].endswith("(environment)"):
            check_environment_credentials(
                "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"
            )
        return self

    def project(self) -> str:
        return self.project_id or os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID", "")

    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint
        domain = "myhuaweicloud.cn" if self.region == "ap-southeast-1" else "myhuaweicloud.com"
        return f"https://modelarts.{self.region}.{domain}"

    def auth(self) -> tuple[str, HuaweiKey | str | Path] | None:
        """(how, key, token or token file) as found first: config keys, config token, the
        HUAWEICLOUD_SDK_* variables; None when there is nothing."""
        creds = self.credentials
        if creds.value("access_key") and creds.value("secret_key"):
            key = HuaweiKey(
                creds.value("access_key"), creds.value("secret_key"), creds.value("security_token")
            )
            return "AK/SK signature (config)", key
        if creds.auth_token is not None:
            return "IAM token (config)", creds.auth_token.get_secret_value()
        if creds.auth_token_file is not None:
            return "IAM token (file)", creds.auth_token_file
        ak, sk = os.environ.get("HUAWEICLOUD_SDK_AK"), os.environ.get("HUAWEICLOUD_SDK_SK")
        if ak and sk:
            token = os.environ.get("HUAWEICLOUD_SDK_SECURITY_TOKEN") or None
            return "AK/SK signature (environment)", HuaweiKey(ak, sk, token)
        return None

    def endpoint_text(self) -> str:
        return f"{redact_url(self.base_url())} project={self.project()}"

    def identity(self) -> dict[str, object]:
        return {
            "endpoint": redact_url(self.base_url()),
            "project": self.project(),
            "filters": self.filters.model_dump(),
        }

    def resource_identity(self, resource: str) -> dict[str, object]:
        """The training jobs are seen through ``training_filters``, not ``filters``."""
        if resource != "training_jobs":
            return super().resource_identity(resource)
        return {
            "endpoint": redact_url(self.base_url()),
            "project": self.project(),
            "training_filters": self.training_filters.model_dump(),
        }

    def auth_text(self) -> str:
        found = self.auth()
        if found and isinstance(found[1], Path):
            return f"{found[0]} {found[1]}"
        return found[0] if found else "none"
