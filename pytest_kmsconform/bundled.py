"""Collect the bundled suites (``pytest_kmsconform.suites``) when ``--kmsconform`` is on.

With no test paths on the command line (pytest fell back to ``testpaths`` or the current
directory), only the bundled suites run; with explicit paths, the suites run in addition to them.
So ``pytest --kmsconform`` works from any directory.

The suite modules are imported by their package name, ``pytest_kmsconform.suites.test_<suite>``,
whatever ``--import-mode`` says: from a checkout (editable install) pytest would otherwise name
them after their folder (``suites.test_<suite>``), a second copy of each module beside the one the
catalogue imports, and ``prepend`` would put the checkout's top-level folders on ``sys.path``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from pytest_kmsconform.options import get_config


def suites_dir() -> Path:
    from pytest_kmsconform import suites

    return Path(suites.__file__).parent


class BundledSuite(pytest.Module):
    """A bundled suite module, imported as ``pytest_kmsconform.suites.<stem>``."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(f"pytest_kmsconform.suites.{self.path.stem}")


class BundledSuites(pytest.Package):
    """The ``suites`` folder as the package ``pytest_kmsconform.suites`` (it has no set-up functions)."""

    def setup(self) -> None:
        importlib.import_module("pytest_kmsconform.suites")


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path.resolve() != suites_dir().resolve():
        return None
    return BundledSuites.from_parent(parent, path=path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if module_path.parent.resolve() != suites_dir().resolve():
        return None
    return BundledSuite.from_parent(parent, path=module_path)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not get_config(config).enabled:
        return
    root = suites_dir()
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(root)]
    elif not any(_selects_suites(arg, config, root) for arg in config.args):
        config.args.append(str(root))


def _selects_suites(arg: str, config: pytest.Config, root: Path) -> bool:
    """True when a command-line argument already names (part of) the bundled suites."""
    head = arg.split("::", 1)[0]
    if head.startswith("pytest_kmsconform.suites"):
        return True
    path = Path(head)
    if not path.is_absolute():
        path = config.invocation_params.dir / path
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
