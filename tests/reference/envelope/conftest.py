"""An aws-kms emulator and a KMS key (the KEK) for envelope tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_kmsconform.emulators.aws_kms.provider import PROVIDER

from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.key_backends import kms_client_for


@pytest.fixture(scope="module")
def handle() -> Iterator[BackendHandle]:
    with PROVIDER.start(namespace="envelope") as running:
        yield running


@pytest.fixture
def kms(handle: BackendHandle) -> Any:
    return kms_client_for(handle)


@pytest.fixture
def kek(kms: Any) -> str:
    key_id = kms.create_key(Description="envelope KEK")["KeyMetadata"]["KeyId"]
    alias = f"alias/keymeld-{key_id[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return alias
