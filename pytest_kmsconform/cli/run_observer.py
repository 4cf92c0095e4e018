"""The pytest plugin object ``kmsconform run`` registers: live progress and the merged result.

Progress comes from hooks that run on the controller, also under pytest-xdist (which relays
``pytest_runtest_logreport``): when every instance of a (backend, suite) group has finished, one
line with its counts is printed. The final :class:`RunResult` is the one the kmsconform plugin
passes to ``pytest_kmsconform_run_finished``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_kmsconform.report.summary import NO_BACKEND
from pytest_kmsconform.results import BackendInfo, RunResult

NA_MARK = "kmsconform not applicable"
UNAVAILABLE_MARK = "kmsconform backend unavailable"
_SUITE = re.compile(r"test_(\w+)\.py::")
_PARAM = re.compile(r"\[([^\]]*)\]$")


@dataclass
class _Group:
    expected: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("passed", "failed", "n/a", "skipped"), 0))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


class RunObserver:
    """Collects progress and the run result; ``emit`` prints one progress line."""

    def __init__(self, emit: Callable[[str], None], backends: Sequence[str]) -> None:
        self._emit = emit
        # longest names first, so "aws-kms-ed25519" resolves to "aws-kms", not "aws"
        self._backends = sorted(backends, key=len, reverse=True)
        self._groups: dict[tuple[str, str], _Group] = {}
        self._state: dict[str, str] = {}
        self._pending: list[str] = []
        self._collected = False
        self.run: RunResult | None = None
        self.announced: set[str] = set()
        self.collect_errors: list[str] = []

    def group_of(self, nodeid: str) -> tuple[str, str]:
        suite_match = _SUITE.search(nodeid)
        suite = suite_match.group(1) if suite_match else "other"
        param_match = _PARAM.search(nodeid)
        param = param_match.group(1) if param_match else ""
        for name in self._backends:
            if param == name or param.startswith(name + "-"):
                return name, suite
        return NO_BACKEND, suite

    def _expect(self, nodeids: Sequence[str]) -> None:
        if self._collected:
            return
        self._collected = True
        for nodeid in nodeids:
            self._groups.setdefault(self.group_of(nodeid), _Group()).expected += 1

    def _flush(self) -> None:
        for line in self._pending:
            self._emit(line)
        self._pending.clear()

    # -- hooks -----------------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_kmsconform_run_finished(self, config: pytest.Config, run: RunResult) -> None:
        self.run = run

    @pytest.hookimpl(optionalhook=True)
    def pytest_kmsconform_backend_started(self, config: pytest.Config, backend: BackendInfo, duration_s: float) -> None:
        # Called inside a fixture while output is captured: queue the line, print it at the next report.
        self.announced.add(backend.name)
        if backend.status == "started":
            self._pending.append(f"  {backend.name}: emulator started, {backend.version} ({duration_s:.1f} s)")
        else:
            self._pending.append(f"  {backend.name}: SKIPPED: {backend.reason}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items:
            self._expect([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        self._expect(list(ids))  # every worker collects the same ids; the first one counts

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(f"{report.nodeid or '(collection)'}: {report.longreprtext}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._flush()
        state = self._state.get(report.nodeid, "passed")
        if report.failed:
            state = "failed"
        elif report.skipped and state == "passed":
            reason = _skip_reason(report)
            state = "n/a" if NA_MARK in reason else "skipped"
        self._state[report.nodeid] = state
        if report.when != "teardown":
            return
        group = self._groups.setdefault(self.group_of(report.nodeid), _Group())
        group.done += 1
        group.counts[state] += 1
        if group.done == group.expected:
            backend, suite = self.group_of(report.nodeid)
            c = group.counts
            self._emit(
                f"  {backend} / {suite}: {c['passed']} passed, {c['failed']} failed, "
                f"{c['n/a']} not applicable, {c['skipped']} skipped"
            )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._flush()
