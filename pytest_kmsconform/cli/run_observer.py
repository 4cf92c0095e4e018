"""The pytest plugin object ``kmsconform run`` registers: live progress and the merged result.

Progress comes from hooks that run on the controller, also under pytest-xdist (which relays
``pytest_runtest_logreport``): when every instance of a (backend, suite) group has finished, one
line with its counts is printed, and while a group runs long, a line every
:data:`HEARTBEAT_S` seconds says what is still running. Which group an instance belongs to and
how it ended are read from the data the plugin attaches to each report
(:mod:`~pytest_kmsconform.check_meta`, :mod:`~pytest_kmsconform.outcomes`). The final
:class:`RunResult` is the one the kmsconform plugin passes to ``pytest_kmsconform_run_finished``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_kmsconform.check_meta import CheckMeta, NodeidMeta, meta_of
from pytest_kmsconform.outcomes import outcome_of
from pytest_kmsconform.report.summary import NO_BACKEND
from pytest_kmsconform.results import BackendInfo, Outcome, RunResult

_COUNTED = {Outcome.PASSED: "passed", Outcome.FAILED: "failed", Outcome.ERROR: "failed"}
_COUNTED |= {Outcome.NOT_APPLICABLE: "n/a", Outcome.SKIPPED: "skipped"}
OTHER = ("", "other")
HEARTBEAT_S = 5.0
"""Longest silence while checks run: then one line says which group is running and how far it is."""


@dataclass
class _Group:
    expected: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("passed", "failed", "n/a", "skipped"), 0))


def _group(meta: CheckMeta | None) -> tuple[str, str]:
    return (meta.backend, meta.suite) if meta is not None else OTHER


class RunObserver:
    """Collects progress and the run result; ``emit`` prints one progress line, ``None`` (``-q``)
    means no progress is followed at all."""

    def __init__(
        self,
        emit: Callable[[str], None] | None,
        backends: Sequence[str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._print = emit
        self._clock = clock
        self._last = clock()
        self._groups: dict[tuple[str, str], _Group] = {}
        self._state: dict[str, Outcome] = {}
        self._group_of: dict[str, tuple[str, str]] = {}
        self._pending: list[str] = []
        self._collected = False
        self._to_expect: list[str] = []
        self._meta = NodeidMeta(backends)
        self.run: RunResult | None = None
        self.announced: set[str] = set()
        self.collect_errors: list[str] = []
        self.backends_to_add: set[str] = set()
        """Backends that skipped instances needed and the selection did not name."""

    def group_of(self, nodeid: str) -> tuple[str, str]:
        """``(backend label, suite)`` of a check instance."""
        backend, suite = self._group_of.get(nodeid) or _group(self._meta(nodeid))
        return backend or NO_BACKEND, suite

    def _expect(self, nodeids: Sequence[str]) -> None:
        if self._collected:
            return
        self._collected = True
        for nodeid in nodeids:
            self._groups.setdefault(self.group_of(nodeid), _Group()).expected += 1

    def _emit(self, line: str) -> None:
        if self._print is not None:
            self._print(line)
        self._last = self._clock()

    def _heartbeat(self, key: tuple[str, str]) -> None:
        """A line when nothing was printed for :data:`HEARTBEAT_S` (a long suite is not a hang)."""
        elapsed = self._clock() - self._last
        group = self._groups.get(key)
        if elapsed < HEARTBEAT_S or group is None or group.done >= group.expected:
            return
        backend, suite = key
        self._emit(f"  {backend} / {suite}: running, {group.done}/{group.expected} done")

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
        if backend.name in self.announced:  # e.g. listed as unavailable before the run started
            return
        self.announced.add(backend.name)
        if backend.status == "started":
            self._pending.append(f"  {backend.name}: emulator started, {backend.version} ({duration_s:.1f} s)")
        elif backend.status == "error":
            self._pending.append(f"  {backend.name}: ERROR: {backend.reason}")
        else:
            self._pending.append(f"  {backend.name}: SKIPPED: {backend.reason}")

    # Which group each collected id belongs to is resolved at the first report, not here: under
    # xdist this hook runs before the controller hands out the first checks, and resolving ~2,000
    # ids (importing the suites to read their catalogue) would hold both workers idle meanwhile.
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items and not self._to_expect:
            self._to_expect = [item.nodeid for item in session.items]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        if not self._to_expect:  # every worker collects the same ids; the first one counts
            self._to_expect = list(ids)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(f"{report.nodeid or '(collection)'}: {report.longreprtext}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        phase = outcome_of(report)
        if phase is not None and phase.needs_backend:
            self.backends_to_add.add(phase.needs_backend)
        if self._print is None:
            return
        self._flush()
        if self._to_expect:
            self._expect(self._to_expect)
            self._to_expect = []
        meta = meta_of(report)
        if meta is not None:
            self._group_of[report.nodeid] = _group(meta)
        state = self._state.get(report.nodeid, Outcome.PASSED)
        if state is Outcome.PASSED:
            if phase is not None:
                state = phase.outcome
            elif report.failed:
                state = Outcome.ERROR
        self._state[report.nodeid] = state
        key = self.group_of(report.nodeid)
        if report.when != "teardown":
            self._heartbeat(key)
            return
        group = self._groups.setdefault(key, _Group())
        group.done += 1
        group.counts[_COUNTED[state]] += 1
        if group.done == group.expected:
            backend, suite = key
            c = group.counts
            self._emit(
                f"  {backend} / {suite}: {c['passed']} passed, {c['failed']} failed, "
                f"{c['n/a']} not applicable, {c['skipped']} skipped"
            )
        else:
            self._heartbeat(key)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._flush()
