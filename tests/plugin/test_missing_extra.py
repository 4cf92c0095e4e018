"""Providers tell whether their client libraries are installed without importing them."""

from __future__ import annotations

import sys

from pytest_kmsconform.backend_api import missing_extra


def test_installed_modules_give_no_reason_and_are_not_imported() -> None:
    sys.modules.pop("csv", None)
    assert missing_extra("x", "json", "csv") is None
    assert "csv" not in sys.modules


def test_a_missing_module_names_the_extra_and_the_module() -> None:
    reason = missing_extra("gcp", "json", "kmsconform_no_such_pkg.sub")
    assert reason is not None
    assert "pytest-kmsconform[gcp]" in reason and "kmsconform_no_such_pkg.sub" in reason
