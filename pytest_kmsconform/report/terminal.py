"""The plain-text end of ``kmsconform run``: a backend x suite table, skipped backends, the badge,
and the closing ``N passed, M failed`` line (always last, alone on its line)."""

from __future__ import annotations

from pytest_kmsconform.results import RunResult

from . import summary

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


def final_lines(run: RunResult) -> list[str]:
    """Everything printed after the run; the last line is :func:`summary.closing_line`."""
    lines = ["", *table_lines(run), ""]
    for backend in summary.skipped_backends(run.backends):
        lines.append(f"SKIPPED backend {backend.name}: {backend.reason}")
    lines += [summary.badge(run), summary.closing_line(run)]
    return lines
