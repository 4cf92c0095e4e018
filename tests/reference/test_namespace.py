"""One import namespace: the source folders are only importable as ``pytest_kmsconform.*``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_kmsconform.emulators
import pytest_kmsconform.reference_impl
import pytest_kmsconform.suites

TOP_LEVEL = ["emulators", "reference_impl", "suites"]


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_source_folders_are_not_top_level_packages(name: str, tmp_path: Path) -> None:
    code = (
        f"import pytest_kmsconform.{name}\ntry:\n    import {name}\nexcept ModuleNotFoundError:\n    print('absent')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "absent"


def test_nothing_in_this_session_imported_a_top_level_name() -> None:
    assert not [name for name in TOP_LEVEL if name in sys.modules]


def test_subpackages_are_mapped() -> None:
    assert Path(pytest_kmsconform.reference_impl.__file__).parent.name == "reference_impl"
    assert pytest_kmsconform.emulators.__name__ == "pytest_kmsconform.emulators"
    assert pytest_kmsconform.suites.__name__ == "pytest_kmsconform.suites"


def _imports_from_root(path: Path) -> set[str]:
    """Names imported with ``from pytest_kmsconform import NAME`` anywhere in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "pytest_kmsconform" and node.level == 0
        for alias in node.names
    }


def test_reference_impl_takes_only_the_table_of_kinds_from_the_package_root() -> None:
    """The package-level layering (reference_impl -> nothing above it) is import-linter's contract in
    pyproject.toml; this covers what it cannot see: names taken from ``pytest_kmsconform/__init__``
    itself, such as its version (the archive writer is given its producer string instead)."""
    root = Path(pytest_kmsconform.reference_impl.__file__).parent
    taken = {f"{path.relative_to(root)}: {name}" for path in root.rglob("*.py") for name in _imports_from_root(path)}
    assert {entry for entry in taken if not entry.endswith(": kinds")} == set()
