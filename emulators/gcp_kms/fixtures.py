"""pytest fixtures for code that talks to Cloud KMS (import them into a ``conftest.py``, or load
this module with ``-p pytest_kmsconform.emulators.gcp_kms.fixtures``).

* ``gcp_kms_emulator`` (session): a running :class:`~.server.GcpKmsEmulator` (REST and gRPC).
* ``gcp_kms_default_client`` (function): inside the test, ``KeyManagementServiceClient()`` with no
  arguments reaches the emulator over REST, and ``KMS_EMULATOR_HOST``, ``KMS_EMULATOR_GRPC_HOST``
  and ``GOOGLE_CLOUD_PROJECT`` are set (restored afterwards).

Example::

    def test_my_code(gcp_kms_default_client):
        client = kms.KeyManagementServiceClient()   # the emulator, no credentials
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .patch import emulated_default_client
from .server import GcpKmsEmulator


@pytest.fixture(scope="session")
def gcp_kms_emulator() -> Iterator[GcpKmsEmulator]:
    """A Cloud KMS emulator for the session (one per xdist worker), checked for internal errors at the end."""
    with GcpKmsEmulator() as emulator:
        yield emulator
        emulator.check()


@pytest.fixture
def gcp_kms_default_client(
    gcp_kms_emulator: GcpKmsEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GcpKmsEmulator]:
    """``KeyManagementServiceClient()`` with no arguments reaches ``gcp_kms_emulator`` during the test."""
    for name, value in gcp_kms_emulator.env().items():
        monkeypatch.setenv(name, value)
    with emulated_default_client(gcp_kms_emulator.url):
        yield gcp_kms_emulator
