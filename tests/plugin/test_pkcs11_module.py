"""``--kmsconform-pkcs11-module`` points the opt-in ``pkcs11-module`` backend at a PKCS#11 module.

SoftHSM2's module and this process's token stand in for a real HSM's module here: the backend
reaches the module only through the path given on the command line (the environment variable is
unset); the token label and PIN come from ``KMSCONFORM_PKCS11_TOKEN_LABEL`` and ``KMSCONFORM_PKCS11_PIN``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_kmsconform.emulators.pkcs11 import softhsm

from pytest_kmsconform.results import RunResult

RunSuites = Callable[..., tuple[pytest.HookRecorder, RunResult]]
needs_softhsm = pytest.mark.skipif(softhsm.unavailable_reason() is not None, reason=str(softhsm.unavailable_reason()))


@needs_softhsm
def test_module_option_selects_the_module(run_suites: RunSuites, monkeypatch: pytest.MonkeyPatch) -> None:
    token = softhsm.process_token()
    monkeypatch.delenv("KMSCONFORM_PKCS11_MODULE", raising=False)
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))  # what a SoftHSM2 user sets for their token
    monkeypatch.setenv("KMSCONFORM_PKCS11_TOKEN_LABEL", token.label)
    monkeypatch.setenv("KMSCONFORM_PKCS11_PIN", token.pin)
    result, run = run_suites(
        "--kmsconform-backend=pkcs11-module",
        f"--kmsconform-pkcs11-module={token.module}",
        "-k",
        "test_signing and ed25519",
    )
    checks = [c for c in run.checks if c.backend == "pkcs11-module"]
    assert checks, "no check ran on the pkcs11-module backend"
    assert {c.outcome.value for c in checks} == {"passed"}, [c.message for c in checks]
    assert result.ret == 0


def test_named_without_module_the_backend_is_an_error_with_the_reason(
    run_suites: RunSuites, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMSCONFORM_PKCS11_MODULE", raising=False)
    result, run = run_suites("--kmsconform-backend=pkcs11-module", "-k", "test_signing")
    errors = [c for c in run.checks if c.backend == "pkcs11-module"]
    assert errors and {c.outcome.value for c in errors} == {"error"}
    assert "--kmsconform-pkcs11-module" in errors[0].message
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_module_that_does_not_exist_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--kmsconform", "--kmsconform-pkcs11-module=/nonexistent/libp11.so")
    result.stderr.fnmatch_lines(["*--kmsconform-pkcs11-module: no PKCS#11 module*"])


def test_the_ini_twin_is_read(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nkmsconform_pkcs11_module = /nonexistent/from-ini.so\n")
    result = pytester.runpytest("--kmsconform")
    result.stderr.fnmatch_lines(["*--kmsconform-pkcs11-module: no PKCS#11 module*from-ini.so*"])
