"""What the plugin shows and writes: NA reasons, progress lines, hooks, the JSON/Markdown report."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.report import json_report
from pytest_kmsconform.results import Outcome, RunResult

ARGS = ("--kmsconform", "--kmsconform-impl=kmsconform_toys:Correct", "-p", "no:cacheprovider")


def test_progress_summary_and_report(pytester: pytest.Pytester, toys_on_path: None) -> None:
    pytester.makeconftest(
        """
        STARTED = []

        def pytest_kmsconform_backend_started(config, backend, duration_s):
            STARTED.append((backend.name, backend.status, duration_s >= 0))

        def pytest_kmsconform_run_finished(config, run):
            print(f"HOOK run_finished {len(run.checks)} started={sorted(STARTED)}")
        """
    )
    report = pytester.path / "out" / "report.json"
    result = pytester.runpytest_inprocess(
        *ARGS, "--kmsconform-backend=local", f"--kmsconform-report={report}", "-k", "test_sign_basic", "-s"
    )
    # the toy declares ed25519 and hmac-sha256; local's other six algorithms are not applicable
    result.assert_outcomes(passed=2, skipped=6)
    result.stdout.fnmatch_lines(
        [
            "kmsconform: starting backend local ...",
            "kmsconform: backend local: ok, in-process (*s)",
            "*HOOK run_finished 8 started=[[]('local', 'started', True)[]]",
            "*= kmsconform summary =*",
            "backend*suite*passed*failed*error*not applicable*skipped",
            "local*signing*2*0*0*6*0",
            "kmsconform: 2/2 (local)",
            "2 passed, 0 failed",
        ]
    )
    document = json.loads(report.read_text())
    json_report.validate(document)
    run = RunResult.from_json(document)
    assert run.catalogue_digest.startswith("sha256:")
    na = [c for c in run.checks if c.outcome is Outcome.NOT_APPLICABLE]
    assert {c.alg for c in na} == {
        "rsa-sha256",
        "rsa-pss-sha256",
        "ecdsa-p256-sha256",
        "ml-dsa-44",
        "ml-dsa-65",
        "ml-dsa-87",
    }
    assert all("implementation toy, backend local" in c.message for c in na)
    assert report.with_suffix(".md").read_text().strip()


@dataclass(frozen=True)
class NoDocker:
    """A backend that cannot start here (as a container backend without Docker)."""

    name: str = "nodocker"
    kind: str = "local"
    description: str = "needs Docker"
    embedded: bool = False

    def unavailable_reason(self) -> str | None:
        return "Docker is not reachable here"

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        raise AssertionError("must not be started")
        yield  # pragma: no cover


@pytest.mark.parametrize("source", ["cli", "ini", "env"])
def test_a_named_backend_that_cannot_start_is_an_error(
    pytester: pytest.Pytester, toys_on_path: None, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """Named on the command line, in the ini file or in the environment: a gate must not pass on a
    backend it never reached, so its checks are errors with the reason and the run fails."""
    monkeypatch.setitem(backend_registry._registered, "nodocker", NoDocker())
    monkeypatch.delenv("KMSCONFORM_BACKEND", raising=False)
    named: tuple[str, ...] = ()
    if source == "cli":
        named = ("--kmsconform-backend=nodocker",)
    elif source == "ini":
        pytester.makeini("[pytest]\nkmsconform_backend = nodocker\n")
    else:
        monkeypatch.setenv("KMSCONFORM_BACKEND", "nodocker")
    report = pytester.path / "out" / "report.json"
    result = pytester.runpytest_inprocess(*ARGS, *named, f"--kmsconform-report={report}", "-k", "test_sign_basic")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=2, skipped=6)
    run = RunResult.from_json(json.loads(report.read_text()))
    errors = [c for c in run.checks if c.outcome is Outcome.ERROR]
    assert len(errors) == 2
    assert all("nodocker" in c.message and "Docker is not reachable here" in c.message for c in errors)
    assert [(b.name, b.status) for b in run.backends] == [("nodocker", "error")]
    assert "Docker is not reachable here" in run.backends[0].reason
    result.stdout.fnmatch_lines(["ERROR backend nodocker (2 check instances not run): *Docker is not reachable here"])


def test_the_default_selection_leaves_an_unavailable_backend_out_with_the_reason(
    pytester: pytest.Pytester, toys_on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the default selection may skip: the backend is listed, skipped, with the reason."""
    monkeypatch.setitem(backend_registry._registered, "nodocker", NoDocker(embedded=True))
    monkeypatch.setattr(backend_registry, "default_selection", lambda: ["local", "nodocker"])
    monkeypatch.delenv("KMSCONFORM_BACKEND", raising=False)
    report = pytester.path / "out" / "report.json"
    result = pytester.runpytest_inprocess(*ARGS, f"--kmsconform-report={report}", "-k", "test_sign_basic")
    assert result.ret == pytest.ExitCode.OK
    run = RunResult.from_json(json.loads(report.read_text()))
    skipped = [c for c in run.checks if c.outcome is Outcome.SKIPPED]
    assert len(skipped) == 2 and all(c.message == "nodocker: Docker is not reachable here" for c in skipped)
    assert [(b.name, b.status, b.reason) for b in run.backends] == [
        ("local", "started", ""),
        ("nodocker", "skipped", "Docker is not reachable here"),
    ]


def test_backend_fixture_factory_for_own_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_kmsconform.backends import backend_fixture

        mock = backend_fixture("mock")
        proxy_ed = backend_fixture("signing-proxy", options={"alg": "ed25519"})
        """
    )
    pytester.makepyfile(
        test_own="""
        def test_mock(mock):
            assert mock.kind == "mock" and mock.env["MOCK_AUDIT_SIGNING_KEY"]

        def test_proxy(proxy_ed):
            assert proxy_ed.url.startswith("http://127.0.0.1:")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
