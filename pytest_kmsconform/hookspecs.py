"""Hooks the plugin calls, for ``kmsconform run``, report writers and third-party plugins.

Implement them in a ``conftest.py`` or a plugin module; they are declared through
``pytest_addhooks`` so pytest validates the signatures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_kmsconform.results import BackendInfo, RunResult

hookspec = pytest.hookspec


@hookspec
def pytest_kmsconform_run_finished(config: pytest.Config, run: RunResult) -> None:
    """Called once, on the controller (never on an xdist worker), with the merged results.

    :param config: the pytest config.
    :param run: every check instance of the run, merged across xdist workers; checks of a worker
        that crashed are reported with outcome ``error``.
    """


@hookspec
def pytest_kmsconform_backend_started(config: pytest.Config, backend: BackendInfo, duration_s: float) -> None:
    """Called in the process that started (or failed to start) a backend.

    :param backend: name, version and status (``started``, ``skipped`` with the provider's reason,
        or ``error``).
    :param duration_s: wall time the start took.
    """
