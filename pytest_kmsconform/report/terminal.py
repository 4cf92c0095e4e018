"""The plain-text end of a run, the same for ``kmsconform run`` and ``pytest --kmsconform``: the
failed and errored instances, a backend x suite table, the backends that did not start, the badge,
and the closing ``N passed, M failed`` line (always last, alone on its line)."""

from __future__ import annotations

from pytest_kmsconform.results import Outcome, RunResult

from . import summary

LISTED = 25
"""At most this many failed or errored instances are listed (the reports have them all)."""
_COLUMNS = ("backend", "suite", "passed", "failed", "error", "not applicable", "skipped")


def _format_rows(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return out


def table_lines(run: RunResult) -> list[str]:
    rows: list[tuple[str, ...]] = [_COLUMNS]
    for backend, suite, c in summary.table(run).rows():
        rows.append((backend, suite, *(str(n) for n in (c.passed, c.failed, c.error, c.not_applicable, c.skipped))))
    if len(rows) == 1:
        return ["(no check ran)"]
    return _format_rows(rows)


def problem_lines(run: RunResult) -> list[str]:
    """One line per failed or errored instance, failures first, each message cut to its first line;
    the instances of a backend that did not start are counted on that backend's line instead."""
    unreached = {b.name for b in summary.failed_backends(run.backends)}
    bad = [
        c
        for c in summary.ordered(run.checks)
        if c.outcome is Outcome.FAILED or (c.outcome is Outcome.ERROR and c.backend not in unreached)
    ]
    lines = []
    for check in bad[:LISTED]:
        where = "-".join(p for p in (check.backend, check.alg) if p) or summary.NO_BACKEND
        first = summary.printable(check.message).strip().splitlines()
        message = f": {first[0]}" if first else ""
        lines.append(f"{check.outcome.value.upper()} {check.check_id} [{where}] {check.title}{message}")
    if len(bad) > LISTED:
        lines.append(f"... and {len(bad) - LISTED} more failed or errored instances (see the reports)")
    return lines


def final_lines(run: RunResult) -> list[str]:
    """Everything printed after the run; the last line is :func:`summary.closing_line`."""
    problems = problem_lines(run)
    lines = ["", *problems, *([""] if problems else []), *table_lines(run), ""]
    for backend in summary.skipped_backends(run.backends):
        if backend.status == "error":
            errors = sum(1 for c in run.checks if c.backend == backend.name and c.outcome is Outcome.ERROR)
            lines.append(f"ERROR backend {backend.name} ({errors} check instances not run): {backend.reason}")
        else:
            lines.append(f"SKIPPED backend {backend.name}: {backend.reason}")
    lines += [summary.badge(run), summary.closing_line(run)]
    return lines
