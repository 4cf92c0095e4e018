"""Helpers for the plugin's pytester tests: run the bundled suites against a toy implementation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_kmsconform.checks import catalogue
from pytest_kmsconform.results import RunResult

# pytester's in-process runs drop modules first imported inside them; pyca/cryptography then sees
# two copies of its classes. Importing the suites (and so everything they use) here keeps one copy.
catalogue()


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOY_BACKENDS = "--kmsconform-backend=local,mock"


class Capture:
    """Receives the merged run through the plugin's ``pytest_kmsconform_run_finished`` hook."""

    def __init__(self) -> None:
        self.runs: list[RunResult] = []

    def pytest_kmsconform_run_finished(self, config: pytest.Config, run: RunResult) -> None:
        self.runs.append(run)


@pytest.fixture
def toys_on_path(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``kmsconform_toys`` importable here and in xdist workers (they start in the test dir)."""
    pytester.syspathinsert(EXAMPLES)
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))
    (pytester.path / "kmsconform_toys.py").write_text((EXAMPLES / "kmsconform_toys.py").read_text())


@pytest.fixture
def run_toy(pytester: pytest.Pytester, toys_on_path: None) -> Callable[..., tuple[pytest.HookRecorder, RunResult]]:
    """``run_toy("Correct", *args)``: the suites against ``kmsconform_toys.<name>`` (in process)."""

    def run(name: str, *args: str) -> tuple[pytest.HookRecorder, RunResult]:
        capture = Capture()
        rec = pytester.inline_run(
            "--kmsconform",
            f"--kmsconform-impl=kmsconform_toys:{name}",
            TOY_BACKENDS,
            "-p",
            "no:cacheprovider",
            "--kmsconform-revocation-window=1",  # a signer that never refuses would cost 10 s a target
            *args,
            plugins=[capture],
        )
        assert len(capture.runs) == 1, "pytest_kmsconform_run_finished must be called exactly once"
        return rec, capture.runs[0]

    return run


@pytest.fixture
def run_suites(pytester: pytest.Pytester) -> Callable[..., tuple[pytest.HookRecorder, RunResult]]:
    """``run_suites(*args)``: the bundled suites in process with ``args``; returns the merged run too."""

    def run(*args: str) -> tuple[pytest.HookRecorder, RunResult]:
        capture = Capture()
        rec = pytester.inline_run("--kmsconform", "-p", "no:cacheprovider", *args, plugins=[capture])
        assert len(capture.runs) == 1, "pytest_kmsconform_run_finished must be called exactly once"
        return rec, capture.runs[0]

    return run
