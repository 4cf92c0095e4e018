"""``--kmsconform-yubihsm-url`` points the opt-in ``yubihsm-connector`` backend at a connector.

The simulator's own connector stands in for a real device's yubihsm-connector here: the backend
reaches it only through the URL given on the command line (the environment variable is unset).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_kmsconform import backend_registry
from pytest_kmsconform.results import RunResult

RunSuites = Callable[..., tuple[pytest.HookRecorder, RunResult]]


def test_url_option_selects_the_connector(run_suites: RunSuites, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMSCONFORM_YUBIHSM_URL", raising=False)
    with backend_registry.get("yubihsm").start(namespace="urltest") as simulator:
        result, run = run_suites(
            "--kmsconform-backend=yubihsm-connector",
            f"--kmsconform-yubihsm-url={simulator.url}",
            "-k",
            "test_signing and ed25519",
        )
    connector = [c for c in run.checks if c.backend == "yubihsm-connector"]
    assert connector, "no check ran on the yubihsm-connector backend"
    assert {c.outcome.value for c in connector} == {"passed"}, [c.message for c in connector]
    assert result.ret == 0


def test_named_without_url_the_backend_is_an_error_with_the_reason(
    run_suites: RunSuites, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMSCONFORM_YUBIHSM_URL", raising=False)
    result, run = run_suites("--kmsconform-backend=yubihsm-connector", "-k", "test_signing")
    errors = [c for c in run.checks if c.backend == "yubihsm-connector"]
    assert errors and {c.outcome.value for c in errors} == {"error"}
    assert "--kmsconform-yubihsm-url" in errors[0].message
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_url_that_is_not_http_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--kmsconform", "--kmsconform-yubihsm-url=ftp://x")
    result.stderr.fnmatch_lines(["*--kmsconform-yubihsm-url: expected an http(s):// URL*"])
