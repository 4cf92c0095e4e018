"""Fixtures for the Vault server tests: the session's shared OpenBao dev server."""

from __future__ import annotations

import pytest
from pytest_kmsconform.emulators.vault.testing import shared_openbao

from pytest_kmsconform.backend_api import BackendHandle


@pytest.fixture(scope="session")
def openbao(request: pytest.FixtureRequest) -> BackendHandle:
    """Session-scoped handle of the shared OpenBao dev server (stopped at session end)."""
    return shared_openbao(request.config)
