"""Figures every report format shares: ordering, the backend x suite table, the badge line.

Definitions (also in ``docs/reports.md``):

- a check *instance* is one :class:`CheckResult` (a check id on one backend with one algorithm);
- *applicable* instances are all instances except ``not_applicable`` ones, so a skipped backend
  or a harness error counts against the score instead of disappearing from it;
- the badge is ``kmsconform: PASSED/APPLICABLE (backend, ...)`` over the backends that started,
  in run order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pytest_kmsconform.results import BackendInfo, CheckResult, Outcome, RunResult

# Failures first: what a reader must act on comes before what merely happened.
OUTCOME_RANK: dict[Outcome, int] = {
    Outcome.FAILED: 0,
    Outcome.ERROR: 1,
    Outcome.SKIPPED: 2,
    Outcome.NOT_APPLICABLE: 3,
    Outcome.PASSED: 4,
}

OUTCOME_LABEL: dict[Outcome, str] = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.NOT_APPLICABLE: "not applicable",
    Outcome.SKIPPED: "skipped",
    Outcome.ERROR: "error",
}

# Characters outside the XML 1.0 ``Char`` production (controls, lone surrogates, U+FFFE/U+FFFF).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` with control characters (except tab and newlines) written as ``\\xNN``: messages
    come from code under test and may carry anything; no report format should carry that raw."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


NO_BACKEND = "(none)"
"""How backend-independent checks (``backend == ""``) are shown in tables."""


def ordered(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """Failures and errors first, then skipped, not applicable, passed; stable within each."""
    return sorted(checks, key=lambda c: (OUTCOME_RANK[c.outcome], c.check_id, c.backend, c.alg, c.nodeid))


@dataclass
class Tally:
    """Outcome counts of a group of check instances."""

    passed: int = 0
    failed: int = 0
    not_applicable: int = 0
    skipped: int = 0
    error: int = 0

    def add(self, outcome: Outcome) -> None:
        name = outcome.value
        setattr(self, name, getattr(self, name) + 1)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.not_applicable + self.skipped + self.error

    @property
    def applicable(self) -> int:
        return self.total - self.not_applicable

    @property
    def ok(self) -> bool:
        """No failure and no error (skips are reported, not failed)."""
        return self.failed == 0 and self.error == 0


def tally(checks: Iterable[CheckResult]) -> Tally:
    result = Tally()
    for check in checks:
        result.add(check.outcome)
    return result


@dataclass
class Table:
    """Counts per (backend, suite), with backends and suites in display order."""

    backends: list[str]
    suites: list[str]
    cells: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, Tally]]:
        """Non-empty cells, backend-major, as ``(backend label, suite, tally)``."""
        out = []
        for backend in self.backends:
            for suite in self.suites:
                cell = self.cells.get((backend, suite))
                if cell is not None:
                    out.append((backend or NO_BACKEND, suite, cell))
        return out


def table(run: RunResult) -> Table:
    """Backends in run order (then any only seen in checks, then backend-independent checks)."""
    backends = [b.name for b in run.backends]
    for check in run.checks:
        if check.backend and check.backend not in backends:
            backends.append(check.backend)
    if any(not c.backend for c in run.checks):
        backends.append("")
    suites = sorted({c.suite for c in run.checks})
    result = Table(backends=backends, suites=suites)
    for check in run.checks:
        result.cells.setdefault((check.backend, check.suite), Tally()).add(check.outcome)
    return result


def started_backends(backends: Sequence[BackendInfo]) -> list[BackendInfo]:
    return [b for b in backends if b.status == "started"]


def skipped_backends(backends: Sequence[BackendInfo]) -> list[BackendInfo]:
    return [b for b in backends if b.status != "started"]


def badge(run: RunResult) -> str:
    """``kmsconform: 212/212 (vault, aws-kms)``: passed / applicable instances, started backends."""
    totals = tally(run.checks)
    names = ", ".join(b.name for b in started_backends(run.backends)) or "no backend"
    return f"kmsconform: {totals.passed}/{totals.applicable} ({names})"


def verdict(run: RunResult) -> str:
    """``pass`` when at least one check passed and none failed or errored; skips do not fail a run
    (they are counted, shown and keep a run from being certified)."""
    totals = tally(run.checks)
    return "pass" if totals.ok and totals.passed > 0 else "fail"


def failed_backends(backends: Sequence[BackendInfo]) -> list[BackendInfo]:
    """Backends that should have started and did not (named but unavailable, or broken)."""
    return [b for b in backends if b.status == "error"]


def closing_line(run: RunResult) -> str:
    """``N passed, M failed`` (plus ``, K skipped`` when K > 0); errors count as failed. When a
    backend that should have run did not start, the line ends ``; backend X did not start``."""
    totals = tally(run.checks)
    line = f"{totals.passed} passed, {totals.failed + totals.error} failed"
    if totals.skipped:
        line += f", {totals.skipped} skipped"
    broken = failed_backends(run.backends)
    if broken:
        line += f"; backend {', '.join(b.name for b in broken)} did not start"
    return line
