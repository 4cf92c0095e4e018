"""A Key Vault emulator shared by this folder's client tests (module scope), and SDK client factories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_kmsconform.emulators.azure_keyvault import KeyVaultEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[KeyVaultEmulator]:
    """A running emulator (module scope; tests use their own key names)."""
    pytest.importorskip("azure.keyvault.keys", reason="needs the azure extra (azure-keyvault-keys)")
    with KeyVaultEmulator() as running:
        yield running


@pytest.fixture
def key_client(emulator: KeyVaultEmulator) -> Iterator[Any]:
    """An unmodified ``KeyClient`` on the emulator (SDK retries off, so injected faults surface)."""
    from azure.keyvault.keys import KeyClient

    client = KeyClient(emulator.url, emulator.credential(), retry_total=0, **emulator.client_kwargs())
    with client:
        yield client
