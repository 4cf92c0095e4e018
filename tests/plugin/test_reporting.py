"""What the plugin shows and writes: NA reasons, progress lines, hooks, the JSON/Markdown report."""

from __future__ import annotations

import json

import pytest

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
    result.assert_outcomes(passed=2, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "kmsconform: starting backend local ...",
            "kmsconform: backend local: ok, in-process (*s)",
            "*HOOK run_finished 5 started=[[]('local', 'started', True)[]]",
            "signing*local*2*0*3*0*0",
            "kmsconform: 2 passed, 0 failed, 3 not applicable, 0 skipped, 0 error (impl toy 1)",
        ]
    )
    document = json.loads(report.read_text())
    json_report.validate(document)
    run = RunResult.from_json(document)
    assert run.catalogue_digest.startswith("sha256:")
    na = [c for c in run.checks if c.outcome is Outcome.NOT_APPLICABLE]
    assert {c.alg for c in na} == {"rsa-sha256", "rsa-pss-sha256", "ecdsa-p256-sha256"}
    assert all("implementation toy, backend local" in c.message for c in na)
    assert report.with_suffix(".md").read_text().strip()


def test_unavailable_backend_is_skipped_with_the_reason(pytester: pytest.Pytester, toys_on_path: None) -> None:
    pytester.makeconftest(
        """
        from contextlib import contextmanager
        from dataclasses import dataclass

        from pytest_kmsconform import backend_registry

        @dataclass(frozen=True)
        class NoDocker:
            name: str = "nodocker"
            kind: str = "local"
            description: str = "needs Docker"
            embedded: bool = False

            def unavailable_reason(self):
                return "Docker is not reachable here"

            @contextmanager
            def start(self, *, namespace, port=0, options=None):
                raise AssertionError("must not be started")
                yield

        backend_registry.register(NoDocker())
        """
    )
    report = pytester.path / "out" / "report.json"
    result = pytester.runpytest_inprocess(
        *ARGS, "--kmsconform-backend=nodocker", f"--kmsconform-report={report}", "-k", "test_sign_basic"
    )
    result.assert_outcomes(skipped=5)
    run = RunResult.from_json(json.loads(report.read_text()))
    skipped = [c for c in run.checks if c.outcome is Outcome.SKIPPED]
    assert len(skipped) == 2 and all(c.message == "nodocker: Docker is not reachable here" for c in skipped)
    assert [(b.name, b.status, b.reason) for b in run.backends] == [
        ("nodocker", "skipped", "Docker is not reachable here")
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
