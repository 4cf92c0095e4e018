"""pytest plugin for hvac's OWN test suite (run from an unpacked hvac sdist with ``-p hvac_shim``).

hvac's integration tests get their server from ``tests/utils/server_manager.py::ServerManager``,
which runs a ``vault`` binary with TLS and then initializes and unseals it
(``tests/utils/hvac_integration_test_case.py::setUpClass``). This shim points that machinery at an
already running, unsealed server instead: ``HVAC_SHIM_VAULT_ADDR`` and ``HVAC_SHIM_VAULT_TOKEN``
(our OpenBao dev server), and reports ``HVAC_SHIM_VAULT_VERSION`` where hvac would run
``vault -version`` (its ``skipIf`` decorators read it at import time). Nothing of hvac is copied.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    import hvac
    import tests.utils as hvac_test_utils  # hvac's own package, from the sdist being tested
    from tests.utils import server_manager

    addr = os.environ["HVAC_SHIM_VAULT_ADDR"]
    token = os.environ["HVAC_SHIM_VAULT_TOKEN"]
    hvac_test_utils.get_vault_version_string.cache = os.environ.get("HVAC_SHIM_VAULT_VERSION", "2.7.2")

    def start(self: Any) -> None:
        self.client = hvac.Client(url=addr, token=token)

    def initialize(self: Any) -> None:
        self.root_token = token
        self.client.token = token

    def nothing(self: Any) -> None:
        """The server belongs to the caller: no unseal, no stop."""

    manager = server_manager.ServerManager
    manager.start = start
    manager.initialize = initialize
    manager.unseal = nothing
    manager.stop = nothing
    manager.get_active_vault_addresses = lambda self: [addr]
