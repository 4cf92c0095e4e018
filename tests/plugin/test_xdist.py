"""Under pytest-xdist the controller merges every worker's checks; a crashed worker's checks are errors.

These run pytest in a subprocess (xdist workers copy the controller's ``sys.path`` at start-up, so
the toy module must be on ``PYTHONPATH`` from the beginning) and read the merged JSON report.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pytest_kmsconform.results import Outcome, RunResult

Runner = Callable[..., tuple[pytest.HookRecorder, RunResult]]
SELECTION = "test_sign_basic or test_signer_verify_online or test_append_export_verify or test_new_kid"


def _subprocess_run(pytester: pytest.Pytester, toy: str, *args: str) -> tuple[pytest.RunResult, RunResult]:
    report = pytester.path / "out" / "report.json"
    result = pytester.runpytest_subprocess(
        "--kmsconform",
        f"--kmsconform-impl=kmsconform_toys:{toy}",
        "--kmsconform-backend=local,mock",
        f"--kmsconform-report={report}",
        "-p",
        "no:cacheprovider",
        "-p",
        "xdist",
        "-n",
        "2",
        *args,
    )
    return result, RunResult.from_json(json.loads(report.read_text()))


def _summary(run: RunResult) -> list[tuple[str, str]]:
    return sorted((c.nodeid, c.outcome.value) for c in run.checks)


def test_results_merge_across_workers(pytester: pytest.Pytester, toys_on_path: None, run_toy: Runner) -> None:
    _, single = run_toy("Correct", "-k", SELECTION)
    result, merged = _subprocess_run(pytester, "Correct", "-k", SELECTION)
    assert result.ret == 0
    assert _summary(merged) == _summary(single)
    assert merged.counts()["passed"] > 0
    assert {b.name: b.status for b in merged.backends} == {"local": "started", "mock": "started"}
    result.stdout.fnmatch_lines(["kmsconform: */* (local, mock)", "* passed, 0 failed*"])


def test_crashed_worker_checks_are_errors(pytester: pytest.Pytester, toys_on_path: None) -> None:
    result, run = _subprocess_run(pytester, "CrashesOnRotate", "-k", "test_new_kid_after_rotation")
    assert result.ret != 0
    ran = [c for c in run.checks if c.outcome is not Outcome.NOT_APPLICABLE]  # rsa/ecdsa: not declared
    assert len(ran) == 3, "local-ed25519, local-hmac-sha256 and mock-hmac-sha256 must each be reported"
    assert {c.outcome for c in ran} == {Outcome.ERROR}
    assert all("crashed" in c.message and c.check_id == "KC-ROT-001" for c in ran)
    assert sorted((c.backend, c.alg) for c in ran) == [
        ("local", "ed25519"),
        ("local", "hmac-sha256"),
        ("mock", "hmac-sha256"),
    ]
