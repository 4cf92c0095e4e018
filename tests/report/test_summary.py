from __future__ import annotations

from typing import Any

from pytest_kmsconform.report import summary
from pytest_kmsconform.results import BackendInfo, Outcome, RunResult


def test_badge_is_passed_over_applicable_with_started_backends(mixed_run: RunResult) -> None:
    # 6 instances, 1 not applicable -> 5 applicable (failed, error, skipped count against), 2 passed
    assert summary.badge(mixed_run) == "kmsconform: 2/5 (local)"


def test_badge_lists_backends_in_run_order(make_run: Any, make_check: Any) -> None:
    run = make_run(
        [make_check("KC-1", Outcome.PASSED, backend="vault"), make_check("KC-1", Outcome.PASSED, backend="aws-kms")],
        backends=[BackendInfo("vault", "OpenBao 2.7.2", "started"), BackendInfo("aws-kms", "moto 5.2.5", "started")],
    )
    assert summary.badge(run) == "kmsconform: 2/2 (vault, aws-kms)"


def test_closing_line_folds_errors_into_failed_and_omits_zero_skips(
    mixed_run: RunResult, make_run: Any, make_check: Any
) -> None:
    assert summary.closing_line(mixed_run) == "2 passed, 2 failed, 1 skipped"
    clean = make_run([make_check("KC-1", Outcome.PASSED), make_check("KC-2", Outcome.NOT_APPLICABLE)])
    assert summary.closing_line(clean) == "1 passed, 0 failed"


def test_ordering_puts_failures_first(mixed_run: RunResult) -> None:
    outcomes = [c.outcome for c in summary.ordered(mixed_run.checks)]
    assert outcomes == [
        Outcome.FAILED,
        Outcome.ERROR,
        Outcome.SKIPPED,
        Outcome.NOT_APPLICABLE,
        Outcome.PASSED,
        Outcome.PASSED,
    ]


def test_table_groups_by_backend_then_suite(mixed_run: RunResult) -> None:
    rows = [
        (b, s, (t.passed, t.failed, t.error, t.not_applicable, t.skipped))
        for b, s, t in summary.table(mixed_run).rows()
    ]
    assert rows == [
        ("local", "rotation", (0, 0, 1, 0, 0)),
        ("local", "signing", (1, 1, 0, 1, 0)),
        ("yubihsm", "signing", (0, 0, 0, 0, 1)),
        (summary.NO_BACKEND, "guard", (1, 0, 0, 0, 0)),
    ]


def test_verdict(mixed_run: RunResult, passing_run: RunResult, make_run: Any, make_check: Any) -> None:
    assert summary.verdict(mixed_run) == "fail"
    assert summary.verdict(passing_run) == "pass"
    assert summary.verdict(make_run([make_check("KC-1", Outcome.NOT_APPLICABLE)])) == "fail"


def test_terminal_ends_with_table_badge_and_closing_line(mixed_run: RunResult) -> None:
    from pytest_kmsconform.report import terminal

    lines = terminal.final_lines(mixed_run)
    assert lines[-1] == "2 passed, 2 failed, 1 skipped"
    assert lines[-2] == "kmsconform: 2/5 (local)"
    assert "SKIPPED backend yubihsm: yubihsm extra missing" in lines
    header = next(line for line in lines if line.startswith("backend"))
    assert header.split("  ")[0] == "backend"
    assert any(line.split() == ["local", "signing", "1", "1", "0", "1", "0"] for line in lines)
    assert any(line.split() == ["(none)", "guard", "1", "0", "0", "0", "0"] for line in lines)


def test_terminal_with_no_checks(make_run: Any) -> None:
    from pytest_kmsconform.report import terminal

    lines = terminal.final_lines(make_run([]))
    assert "(no check ran)" in lines and lines[-1] == "0 passed, 0 failed"
