"""One import namespace: the source folders are only importable as ``pytest_kmsconform.*``."""

from __future__ import annotations

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
