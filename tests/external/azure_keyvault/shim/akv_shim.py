"""pytest plugin for azure-keyvault-keys' tests in live mode against the emulator: the session
fixture ``test_proxy`` their conftest asks for (there is no test proxy here)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def test_proxy() -> None:
    """Nothing to start: requests go straight to the emulator."""
