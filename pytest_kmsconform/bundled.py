"""Collect the bundled suites (``pytest_kmsconform.suites``) when ``--kmsconform`` is on.

With no test paths on the command line (pytest fell back to ``testpaths`` or the current
directory), only the bundled suites run; with explicit paths, the suites run in addition to them.
So ``pytest --kmsconform`` works from any directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kmsconform.options import get_config


def suites_dir() -> Path:
    from pytest_kmsconform import suites

    return Path(suites.__file__).parent


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
