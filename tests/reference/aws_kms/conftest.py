"""One AWS KMS backend per test module: ``aws-kms`` (our moto layer) by default, or the backend named by
``KMSCONFORM_AWS_BACKEND`` (``localstack`` in ``tox -e localstack``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pytest_kmsconform.emulators.aws_kms.provider import AwsKmsDetails
from pytest_kmsconform.reference_impl.algorithms import Algorithm

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle

BACKEND = os.environ.get("KMSCONFORM_AWS_BACKEND", "aws-kms")


@pytest.fixture(scope="module")
def handle() -> Iterator[BackendHandle]:
    provider = backend_registry.get(BACKEND)
    reason = provider.unavailable_reason()
    if reason is not None:
        pytest.fail(f"KMSCONFORM_AWS_BACKEND={BACKEND} cannot start: {reason}")
    with provider.start(namespace="kmsconform-test") as running:
        yield running


@pytest.fixture
def supports(handle: BackendHandle) -> dict[Algorithm, str]:
    """Algorithm -> reason, for algorithms the backend's handle declares it cannot do (a declared gap
    is skipped; anything else must pass)."""
    details = handle.detail(AwsKmsDetails)
    return dict(details.unsupported) if details is not None else {}
