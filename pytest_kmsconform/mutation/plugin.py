"""Loaded by the mutation runner (``-p pytest_kmsconform.mutation.plugin``) in each mutant's run.

The guard suite starts ``service_command`` with an environment it builds from scratch; the mutant's
variables are added back by launching it through :mod:`pytest_kmsconform.mutation.inject`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

import pytest

from pytest_kmsconform.implementation import IMPL_KEY

from .core import ENV_LOG, ENV_MUTANT

CARRIED = (ENV_MUTANT, ENV_LOG, "PYTHONPATH")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    impl = config.stash.get(IMPL_KEY, None)
    carried = {name: os.environ[name] for name in CARRIED if os.environ.get(name)}
    if impl is None or ENV_MUTANT not in carried:
        return
    original = impl.service_command

    def service_command() -> Sequence[str]:
        argv = list(original())
        return [sys.executable, "-m", "pytest_kmsconform.mutation.inject", json.dumps(carried), "--", *argv]

    impl.service_command = service_command  # type: ignore[method-assign]
