"""The ``pytest11`` entry point: wires the plugin's modules together and nothing else.

Each listed module owns one concern (its options, hooks and fixtures); see ``docs/adapter.md``.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("pytest_kmsconform.asserts")

pytest_plugins = [
    "pytest_kmsconform.options",
    "pytest_kmsconform.outcomes",
    "pytest_kmsconform.bundled",
    "pytest_kmsconform.checks",
    "pytest_kmsconform.backends",
    "pytest_kmsconform.implementation",
    "pytest_kmsconform.check_meta",
    "pytest_kmsconform.collect_results",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_kmsconform import hookspecs

    pluginmanager.add_hookspecs(hookspecs)
