"""The outcome of a check instance, decided from what happened rather than from message text.

Where the cause of a non-pass is known, it is raised as a type: :func:`not_applicable` (the
implementation did not declare what the check needs), :func:`backend_unavailable` (a backend the
default selection could not start, or one the check needs that was not selected),
:class:`~pytest_kmsconform.implementation.ImplementationFault` (the implementation raised while
the check was set up) and :class:`~pytest_kmsconform.backends.BackendStartError` (a backend that
should have run did not). ``pytest_runtest_makereport`` turns each phase's exception into a
:class:`PhaseOutcome` carried on the report (a user property, so xdist relays it), and
:func:`classify` combines the phases of one instance.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import NoReturn

import pytest

from pytest_kmsconform.results import Outcome

PROPERTY = "kmsconform_outcome"
NA_PREFIX = "kmsconform not applicable: "
SKIP_PREFIX = "kmsconform backend unavailable: "


class NotApplicable(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """The implementation did not declare what the check needs; reported ``not_applicable``."""


class BackendUnavailable(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """The check needs a backend that is not here (default selection) or not selected; ``skipped``."""

    backend = ""
    """Set when the backend was not selected: adding it to the selection would run the check."""


def not_applicable(reason: str) -> NoReturn:
    """Stop the current check: not applicable to this implementation, for ``reason``."""
    __tracebackhide__ = True
    raise NotApplicable(f"{NA_PREFIX}{reason}")


def backend_unavailable(name: str, reason: str) -> NoReturn:
    """Stop the current check: backend ``name`` cannot start here, for ``reason``."""
    __tracebackhide__ = True
    raise BackendUnavailable(f"{SKIP_PREFIX}{name}: {reason}")


def backend_not_selected(name: str, reason: str) -> NoReturn:
    """Stop the current check: it needs backend ``name``, which was not selected (``reason`` says
    what for); the outcome records the name, so a refusal can say which backends to add."""
    __tracebackhide__ = True
    error = BackendUnavailable(f"{SKIP_PREFIX}{name}: {reason}")
    error.backend = name
    raise error


@dataclass(frozen=True)
class PhaseOutcome:
    """What one phase (``setup``, ``call``, ``teardown``) of a check instance came to."""

    outcome: Outcome
    message: str
    needs_backend: str = ""
    """For a check skipped because a backend was not selected: that backend's name."""

    def to_json(self) -> str:
        data = {"outcome": self.outcome.value, "message": self.message, "needs_backend": self.needs_backend}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PhaseOutcome:
        data = json.loads(text)
        return cls(Outcome(data["outcome"]), str(data["message"]), str(data.get("needs_backend", "")))


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    text = report.longreprtext.strip()
    return text.splitlines()[-1] if text else ""


def phase_outcome(report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException] | None) -> PhaseOutcome:
    """The outcome of one phase from its report and the exception it raised (if any)."""
    from pytest_kmsconform.backends import BackendStartError
    from pytest_kmsconform.implementation import ImplementationFault

    error = excinfo.value if excinfo is not None else None
    if isinstance(error, NotApplicable):
        return PhaseOutcome(Outcome.NOT_APPLICABLE, str(error.msg).removeprefix(NA_PREFIX))
    if report.skipped:
        message = str(error.msg) if isinstance(error, pytest.skip.Exception) else _crash_message(report)
        needs = error.backend if isinstance(error, BackendUnavailable) else ""
        return PhaseOutcome(Outcome.SKIPPED, message.removeprefix(SKIP_PREFIX), needs)
    if report.passed:
        return PhaseOutcome(Outcome.PASSED, "")
    if isinstance(error, BackendStartError):  # the harness could not reach the backend: never a verdict
        return PhaseOutcome(Outcome.ERROR, f"backend error: {error}")
    if report.when == "setup" and isinstance(error, ImplementationFault):
        return PhaseOutcome(Outcome.FAILED, str(error))  # the implementation raised while the check was set up
    if report.when == "setup":
        return PhaseOutcome(Outcome.ERROR, f"set-up error: {_crash_message(report)}")
    if report.when == "teardown":
        return PhaseOutcome(Outcome.ERROR, f"teardown error: {_crash_message(report)}")
    return PhaseOutcome(Outcome.FAILED, _crash_message(report))


def outcome_of(report: pytest.TestReport) -> PhaseOutcome | None:
    """The :class:`PhaseOutcome` a check's report carries, or ``None`` (not a check, or a report
    that never went through ``pytest_runtest_makereport``, such as xdist's for a crashed worker)."""
    for name, value in report.user_properties:
        if name == PROPERTY:
            return PhaseOutcome.from_json(str(value))
    return None


def classify(phases: Mapping[str, pytest.TestReport]) -> tuple[Outcome, str]:
    """Outcome and message of one check instance: its first phase that did not pass decides."""
    for when in ("setup", "call", "teardown"):
        report = phases.get(when)
        if report is None:
            continue
        phase = outcome_of(report)
        if phase is None:
            return Outcome.ERROR, f"{when}: no outcome recorded"
        if phase.outcome is not Outcome.PASSED:
            return phase.outcome, phase.message
    if "call" in phases:
        return Outcome.PASSED, ""
    return Outcome.ERROR, "the check did not run to completion"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    from pytest_kmsconform.checks import MARKER

    report = yield
    if item.get_closest_marker(MARKER) is not None:
        report.user_properties.append((PROPERTY, phase_outcome(report, call.excinfo).to_json()))
    return report
