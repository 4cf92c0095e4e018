"""``KeyManagementServiceClient()`` with no arguments, sent to the emulator by the patch and the fixture."""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import kms
from pytest_kmsconform.emulators.gcp_kms import GcpKmsEmulator, patch
from pytest_kmsconform.emulators.gcp_kms.fixtures import gcp_kms_default_client, gcp_kms_emulator

__all__ = ["gcp_kms_default_client", "gcp_kms_emulator"]


def test_no_argument_client_reaches_the_emulator(gcp_kms_default_client: GcpKmsEmulator) -> None:
    client = kms.KeyManagementServiceClient()
    ring = client.create_key_ring(
        request={"parent": gcp_kms_default_client.location_name, "key_ring_id": "patched", "key_ring": {}}
    )
    assert gcp_kms_default_client.model.get_key_ring(ring.name).name == ring.name


def test_install_honours_kms_emulator_host(emulator: GcpKmsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMS_EMULATOR_HOST", emulator.rest_host)
    assert patch.install()
    try:
        client = kms.KeyManagementServiceClient()
        assert isinstance(client.transport._credentials, AnonymousCredentials)
        listed = client.list_key_rings(request={"parent": emulator.location_name})
        assert all(r.name.startswith(emulator.location_name) for r in listed)
    finally:
        patch.uninstall()


def test_explicit_arguments_are_left_alone(emulator: GcpKmsEmulator) -> None:
    with patch.emulated_default_client(emulator.url):
        client = kms.KeyManagementServiceClient(
            credentials=AnonymousCredentials(), client_options={"api_endpoint": "https://example.invalid"}
        )
    assert "example.invalid" in client.api_endpoint


def test_without_an_endpoint_nothing_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMS_EMULATOR_HOST", raising=False)
    assert patch.install() is False
