"""The bundled suites are collected under their one import name, ``pytest_kmsconform.suites``."""

from __future__ import annotations

import sys

import pytest

TOP_LEVEL = ("emulators", "reference_impl", "suites")


class ModuleNames:
    """Records the module of every collected item, and the top-level names present at the end."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.top_level: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.modules = {item.module.__name__ for item in session.items if isinstance(item, pytest.Function)}

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.top_level = [name for name in TOP_LEVEL if name in sys.modules]


@pytest.mark.parametrize("mode", ["importlib", "prepend", "append"])
def test_suites_import_as_the_package_in_every_import_mode(pytester: pytest.Pytester, mode: str) -> None:
    """From a checkout (editable install), pytest would name ``suites/test_x.py`` by its folder
    (``suites.test_x``), a second copy of every suite module beside ``pytest_kmsconform.suites``."""
    names = ModuleNames()
    # one check runs, so the suites' package is set up too (pytest imports a package's __init__.py)
    rec = pytester.inline_run(
        "--kmsconform", "--kmsconform-backend=mock", f"--import-mode={mode}", "-k", "test_airgap", plugins=[names]
    )
    assert rec.ret == pytest.ExitCode.OK
    assert rec.countoutcomes()[0] > 0
    assert names.modules and all(m.startswith("pytest_kmsconform.suites.test_") for m in names.modules), names.modules
    assert names.top_level == []
