"""``report.md``: badge line, summary, backend x suite table, then every non-passing instance.

Text from checks (titles, messages) is escaped so that it can neither break the table nor
inject HTML into a rendered page; messages go in fenced blocks longer than any backtick run
they contain.
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_kmsconform.results import CheckResult, Outcome, RunResult

from . import summary

_INLINE_SPECIALS = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def inline(text: str) -> str:
    """Escape text for a Markdown table cell or paragraph: one line, no markup, no raw HTML."""
    flat = " ".join(summary.printable(text).split())
    return _INLINE_SPECIALS.sub(r"\\\1", flat.replace("&", "&amp;"))


def fenced(text: str) -> list[str]:
    """A fenced block whose fence is longer than any backtick run in ``text``."""
    longest = max((len(m.group(0)) for m in re.finditer(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *summary.printable(text).splitlines(), fence]


def _header(run: RunResult) -> list[str]:
    totals = summary.tally(run.checks)
    lines = [
        "# kmsconform conformance report",
        "",
        summary.badge(run),
        "",
        f"- Verdict: **{summary.verdict(run)}**",
        f"- Implementation: {inline(run.implementation)} {inline(run.implementation_version)}".rstrip(),
        f"- Suite version: {inline(run.suite_version)}",
        f"- Run: {inline(run.started_at)} to {inline(run.finished_at)}",
    ]
    if run.catalogue_digest:
        lines.append(f"- Check catalogue digest: `{run.catalogue_digest}`")
    lines.append(
        f"- Check instances: {totals.total} ({totals.passed} passed, {totals.failed} failed, "
        f"{totals.error} error, {totals.skipped} skipped, {totals.not_applicable} not applicable); "
        f"score = passed / applicable = {totals.passed}/{totals.applicable}"
    )
    lines += ["", "## Backends", "", "| Backend | Status | Version | Reason |", "|---|---|---|---|"]
    for backend in run.backends:
        cells = (backend.name, backend.status, backend.version, backend.reason)
        lines.append("| " + " | ".join(inline(c) for c in cells) + " |")
    return lines


def _table(run: RunResult) -> list[str]:
    lines = [
        "",
        "## Results by backend and suite",
        "",
        "| Backend | Suite | Passed | Failed | Error | Not applicable | Skipped |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for backend, suite, cell in summary.table(run).rows():
        lines.append(
            f"| {inline(backend)} | {inline(suite)} | {cell.passed} | {cell.failed} | {cell.error} "
            f"| {cell.not_applicable} | {cell.skipped} |"
        )
    return lines


def _instance_heading(check: CheckResult) -> str:
    where = ", ".join(x for x in (check.backend or summary.NO_BACKEND, check.alg) if x)
    return f"### {summary.OUTCOME_LABEL[check.outcome]}: {inline(check.check_id)} ({inline(where)})"


def _details(run: RunResult) -> list[str]:
    lines: list[str] = []
    attention = [c for c in summary.ordered(run.checks) if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    lines += ["", "## Failures and errors", ""]
    if not attention:
        lines.append("None.")
    for check in attention:
        lines += [
            _instance_heading(check),
            "",
            f"- Title: {inline(check.title)}",
            f"- Source: {inline(check.source)}",
            f"- Suite: {inline(check.suite)}",
            f"- Test: {inline(check.nodeid)}",
            "",
            *fenced(check.message or "(no message)"),
            "",
        ]
    others = [c for c in summary.ordered(run.checks) if c.outcome in (Outcome.SKIPPED, Outcome.NOT_APPLICABLE)]
    if others:
        lines += [
            "",
            "## Skipped and not applicable",
            "",
            "| Check | Backend | Alg | Outcome | Reason |",
            "|---|---|---|---|---|",
        ]
        for check in others:
            lines.append(
                f"| {inline(check.check_id)} | {inline(check.backend or summary.NO_BACKEND)} | {inline(check.alg)} "
                f"| {summary.OUTCOME_LABEL[check.outcome]} | {inline(check.message)} |"
            )
    return lines


def render(run: RunResult) -> str:
    return "\n".join([*_header(run), *_table(run), *_details(run)]).rstrip("\n") + "\n"


def write(run: RunResult, path: Path) -> Path:
    path.write_text(render(run), encoding="utf-8")
    return path
