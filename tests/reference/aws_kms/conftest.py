"""One ``aws-kms`` emulator (moto + fidelity layer over HTTP) per test module, via its provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_kmsconform.emulators.aws_kms.provider import PROVIDER

from pytest_kmsconform.backend_api import BackendHandle


@pytest.fixture(scope="module")
def handle() -> Iterator[BackendHandle]:
    with PROVIDER.start(namespace="kmsconform-test") as running:
        yield running
