"""A synthetic run with every outcome, hostile text included, for the renderer tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_kmsconform.results import BackendInfo, CheckResult, Outcome, RunResult

HOSTILE = '<script>alert("x")</script> & | `code` ``` \x00\x1b end'


def _check(
    check_id: str,
    outcome: Outcome,
    *,
    backend: str = "local",
    suite: str = "signing",
    alg: str = "ed25519",
    message: str = "",
) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        title=f"title of {check_id}",
        source="seed 001",
        suite=suite,
        backend=backend,
        alg=alg,
        outcome=outcome,
        message=message,
        duration_s=0.25,
        nodeid=f"suites/test_{suite}.py::test_{check_id}[{backend}-{alg}]",
    )


def _run(checks: list[CheckResult], backends: list[BackendInfo] | None = None) -> RunResult:
    return RunResult(
        suite_version="1.0.0",
        implementation="reference",
        implementation_version="0.1.0",
        started_at="2026-11-22T12:00:00Z",
        finished_at="2026-11-22T12:00:05Z",
        backends=backends if backends is not None else [BackendInfo("local", "in-process", "started")],
        checks=checks,
    )


CheckFactory = Callable[..., CheckResult]
RunFactory = Callable[..., RunResult]


@pytest.fixture
def make_check() -> CheckFactory:
    return _check


@pytest.fixture
def make_run() -> RunFactory:
    return _run


@pytest.fixture
def mixed_run() -> RunResult:
    """Every outcome, two backends (one skipped), a backend-independent check, hostile text."""
    return _run(
        [
            _check("KC-SIG-001", Outcome.PASSED),
            _check("KC-SIG-002", Outcome.FAILED, message=HOSTILE),
            _check("KC-SIG-003", Outcome.NOT_APPLICABLE, alg="hmac-sha256", message="hmac not declared"),
            _check("KC-ROT-001", Outcome.ERROR, suite="rotation", message="fixture broke\ntraceback line"),
            _check("KC-SIG-001", Outcome.SKIPPED, backend="yubihsm", message="yubihsm extra missing"),
            _check("KC-GRD-001", Outcome.PASSED, backend="", alg="", suite="guard"),
        ],
        backends=[
            BackendInfo("local", "in-process", "started"),
            BackendInfo("yubihsm", "", "skipped", "yubihsm extra missing"),
        ],
    )


@pytest.fixture
def passing_run() -> RunResult:
    """Certifiable: passes and one not-applicable check."""
    return _run(
        [
            _check("KC-SIG-001", Outcome.PASSED),
            _check("KC-SIG-001", Outcome.PASSED, alg="rsa-sha256"),
            _check("KC-SIG-003", Outcome.NOT_APPLICABLE, alg="hmac-sha256", message="hmac not declared"),
            _check("KC-GRD-001", Outcome.PASSED, backend="", alg="", suite="guard"),
        ]
    )
