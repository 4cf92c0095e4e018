"""Fixtures for the Vault server tests: the session's shared OpenBao dev server and a root hvac client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_kmsconform.emulators.vault.testing import shared_openbao

from pytest_kmsconform.backend_api import BackendHandle


@pytest.fixture(scope="session")
def openbao(request: pytest.FixtureRequest) -> BackendHandle:
    """Session-scoped handle of the shared OpenBao dev server (stopped at session end)."""
    return shared_openbao(request.config)


@pytest.fixture
def root_client(openbao: BackendHandle) -> Iterator[Any]:
    """An ``hvac.Client`` with the root token of the shared server (new per test)."""
    import hvac

    client = hvac.Client(url=openbao.env["VAULT_ADDR"], token=openbao.env["VAULT_TOKEN"])
    yield client
    client.adapter.close()
