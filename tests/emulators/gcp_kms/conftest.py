"""Fixtures: one Cloud KMS emulator per module, and the unmodified google-cloud-kms client on it
over REST (configuration only) and over gRPC (an injected plaintext channel)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("google.cloud.kms_v1", reason="needs the gcp extra (pip install 'pytest-kmsconform[gcp]')")

from pytest_kmsconform.emulators.gcp_kms import GcpKmsEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcpKmsEmulator]:
    with GcpKmsEmulator(pending_generation_s=0.02) as emu:
        yield emu
        emu.check()


@pytest.fixture(scope="module", params=["rest", "grpc"])
def client(request: pytest.FixtureRequest, emulator: GcpKmsEmulator) -> Iterator[Any]:
    c = emulator.rest_client() if request.param == "rest" else emulator.grpc_client()
    yield c
    c.transport.close()


@pytest.fixture
def ring(client: Any, emulator: GcpKmsEmulator) -> str:
    """A fresh key ring (unique name per test)."""
    created = client.create_key_ring(
        request={"parent": emulator.location_name, "key_ring_id": f"r-{uuid.uuid4().hex[:12]}", "key_ring": {}}
    )
    return str(created.name)
