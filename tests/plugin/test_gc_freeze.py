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


WORKER_PROBE = """
import gc, json, os, pathlib

def pytest_unconfigure(config):
    if hasattr(config, "workerinput"):
        out = pathlib.Path(os.environ["KMSCONFORM_TEST_FREEZE_OUT"])
        out.write_text(json.dumps(gc.get_freeze_count()))
"""


def test_an_xdist_worker_stays_frozen_to_its_end(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's process ends with its session: unfreezing would only hand the whole heap to
    pytest's last collection and the interpreter's passes at exit (about a second a worker)."""
    out = pytester.path / "freeze.json"
    monkeypatch.setenv("KMSCONFORM_TEST_FREEZE_OUT", str(out))
    pytester.makeconftest(WORKER_PROBE)
    result = pytester.runpytest_subprocess(
        "--kmsconform",
        "--kmsconform-backend=mock",
        "-p",
        "no:cacheprovider",
        "-p",
        "xdist",
        "-n",
        "1",
        "-k",
        "test_sign_basic",
    )
    assert result.ret == 0
    assert int(out.read_text()) > 0, "the worker unfroze its heap before exiting"
