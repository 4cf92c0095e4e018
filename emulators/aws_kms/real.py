"""The ``aws`` backend: real AWS KMS, opt-in only (``KMSCONFORM_REAL_AWS=1``), never in CI.

Credentials and region come from the usual AWS environment (boto3's default chain). Keys made by
:class:`~pytest_kmsconform.reference_impl.backends.aws_kms.AwsKmsBackend` carry the tag
``kmsconform:namespace``; when the run ends, every enabled or disabled key with this run's
namespace is scheduled for deletion after the minimum 7-day window (real keys cost money).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle

from .provider import AwsKmsDetails

OPT_IN = "KMSCONFORM_REAL_AWS"
NAMESPACE_TAG = "kmsconform:namespace"
PASSED_THROUGH = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS")


def _client() -> Any:
    from pytest_kmsconform.reference_impl.backends.aws_kms import kms_client

    return kms_client()


def schedule_namespace_deletion(client: Any, namespace: str, days: int = 7) -> list[str]:
    """Schedule deletion of every key tagged with ``namespace``; returns their KeyIds."""
    doomed = []
    for page in client.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            key_id = entry["KeyId"]
            tags = client.list_resource_tags(KeyId=key_id).get("Tags", [])
            if {"TagKey": NAMESPACE_TAG, "TagValue": namespace} not in tags:
                continue
            state = client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
            if state in ("Enabled", "Disabled"):
                client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
                doomed.append(key_id)
    return doomed


@dataclass(frozen=True)
class RealAwsProvider:
    name: str = "aws"
    kind: str = kinds.AWS_KMS
    description: str = f"real AWS KMS (opt-in: {OPT_IN}=1 plus AWS credentials and region; never in CI)"
    embedded: bool = False

    def unavailable_reason(self) -> str | None:
        if os.environ.get("CI"):
            return "real AWS is never used in CI"
        if os.environ.get(OPT_IN) != "1":
            return f"opt-in only: set {OPT_IN}=1 with AWS credentials and AWS_REGION"
        if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
            return "AWS_REGION or AWS_DEFAULT_REGION is not set"
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        reason = self.unavailable_reason()
        if reason is not None:
            raise ConfigurationError(f"aws: {reason}")
        if options:
            raise ConfigurationError(f"aws: takes no options, got {sorted(options)}")
        env = {name: os.environ[name] for name in PASSED_THROUGH if os.environ.get(name)}
        try:
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env=env,
                version="AWS KMS",
                namespace=namespace,
                url=env.get("AWS_ENDPOINT_URL_KMS") or env.get("AWS_ENDPOINT_URL"),
                details=(AwsKmsDetails(client_factory=_client),),
            )
        finally:
            schedule_namespace_deletion(_client(), namespace)


PROVIDER = RealAwsProvider()
