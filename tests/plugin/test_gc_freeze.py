"""The backend pool moves what exists once backends have started out of the collector's full passes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_kmsconform import backends
from pytest_kmsconform.results import RunResult

RunSuites = Callable[..., tuple[pytest.HookRecorder, RunResult]]


def test_started_pool_freezes_and_unfreezes_at_the_end(run_suites: RunSuites, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(backends.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(backends.gc, "unfreeze", lambda: calls.append("unfreeze"))
    result, run = run_suites("--kmsconform-backend=mock", "-k", "test_sign_basic")
    assert run.checks and {c.outcome.value for c in run.checks} == {"passed"}
    assert calls == ["freeze", "unfreeze"]
    assert result.ret == 0
