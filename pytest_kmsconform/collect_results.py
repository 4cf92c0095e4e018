"""Gather every check instance into one :class:`~pytest_kmsconform.results.RunResult`, across
xdist workers, then hand it on: ``pytest_kmsconform_run_finished``, ``--kmsconform-report``
(written through :func:`pytest_kmsconform.report.write_formats`, the table ``kmsconform report``
uses) and the terminal summary (:func:`pytest_kmsconform.report.terminal.final_lines`, the one
``kmsconform run`` prints). What each instance is comes from :mod:`~pytest_kmsconform.check_meta`,
how it ended from :mod:`~pytest_kmsconform.outcomes`.

Results are built from the reports the controller sees (``pytest_runtest_logreport``), which
xdist forwards from every worker, so a check is never lost: a check whose worker crashed is
``error``. Workers add what only they know (started backends, the implementation's name) to
``config.workeroutput["kmsconform"]``, read on the controller in ``pytest_testnodedown``: so
does the catalogue digest, which the controller would otherwise import every suite to compute.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_kmsconform import SUITE_VERSION
from pytest_kmsconform.backends import STATES_KEY, describe
from pytest_kmsconform.check_meta import CheckMeta, meta_from_nodeid, meta_of
from pytest_kmsconform.checks import CheckDefinitionError, catalogue, catalogue_digest, spec_of
from pytest_kmsconform.options import get_config
from pytest_kmsconform.outcomes import classify
from pytest_kmsconform.results import BackendInfo, CheckResult, Outcome, RunResult

PROPERTY = "kmsconform"
IMPL_SEEN_KEY = pytest.StashKey[tuple[str, str]]()
RUN_KEY = pytest.StashKey[RunResult]()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _crash_message(report: pytest.TestReport) -> str:
    text = report.longreprtext.strip()
    return text.splitlines()[-1] if text else ""


class ResultCollector:
    """Lives on the controller (or the only process); gathers every check instance."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started_at = _now()
        self.phases: dict[str, dict[str, pytest.TestReport]] = defaultdict(dict)
        self.meta: dict[str, CheckMeta] = {}
        self.nodes: dict[str, str] = {}
        self.results: dict[str, CheckResult] = {}
        self.worker_backends: list[dict[str, Any]] = []
        self.impl_seen: tuple[str, str] | None = None
        self.catalogue_seen = ""
        """The catalogue digest a worker computed (the controller never imported the suites)."""
        self.workers_lost = 0

    def _finish(self, nodeid: str, outcome: Outcome | None = None, message: str = "") -> None:
        meta = self.meta.get(nodeid)
        if meta is None:
            return
        phases = self.phases.pop(nodeid, {})
        if outcome is None:
            outcome, message = classify(phases)
        duration = sum(rep.duration for rep in phases.values())
        self.results[nodeid] = CheckResult(
            check_id=meta.check_id,
            title=meta.title,
            source=meta.source,
            suite=meta.suite,
            backend=meta.backend,
            alg=meta.alg,
            outcome=outcome,
            message=message,
            duration_s=round(duration, 4),
            nodeid=nodeid,
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        meta = meta_of(report)
        if meta is None and report.nodeid not in self.meta and report.when not in ("setup", "call", "teardown"):
            meta = meta_from_nodeid(report.nodeid, get_config(self.config).backends)  # a crash report has no properties
        if meta is not None:
            self.meta[report.nodeid] = meta
        elif report.nodeid not in self.meta:
            return
        node = getattr(report, "node", None)
        if node is not None:
            self.nodes[report.nodeid] = str(node.workerinput.get("workerid", "?"))
        if report.when not in ("setup", "call", "teardown"):  # xdist's report for a crashed worker
            self._finish(report.nodeid, Outcome.ERROR, f"worker crashed: {_crash_message(report)}")
            return
        self.phases[report.nodeid][report.when] = report
        if report.when == "teardown":
            self._finish(report.nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        out = getattr(node, "workeroutput", {}).get(PROPERTY)
        if out:
            self.worker_backends.extend(out.get("backends", []))
            if out.get("impl") and self.impl_seen is None:
                self.impl_seen = (str(out["impl"][0]), str(out["impl"][1]))
            if out.get("catalogue_digest") and not self.catalogue_seen:
                self.catalogue_seen = str(out["catalogue_digest"])
        if error:
            self.workers_lost += 1
            worker = str(node.workerinput.get("workerid", "?"))
            for nodeid in [n for n in self.phases if self.nodes.get(n) == worker]:
                self._finish(nodeid, Outcome.ERROR, f"worker {worker} went down: {error}")

    def backends(self) -> list[BackendInfo]:
        kc = get_config(self.config)
        infos: dict[str, BackendInfo] = {}
        local = [asdict(s.info()) for s in self.config.stash.get(STATES_KEY, [])]
        for data in [*local, *self.worker_backends]:
            info = BackendInfo(**{k: data[k] for k in ("name", "version", "status", "reason")})
            if info.name not in infos or (info.status == "started" and infos[info.name].status != "started"):
                infos[info.name] = info
        unused = (
            "no selected check used it"
            if not self.workers_lost
            else "not reported: no check used it or its worker crashed"
        )
        ordered = [
            infos.get(name, BackendInfo(name=name, version="", status="skipped", reason=unused)) for name in kc.backends
        ]
        return ordered + [info for name, info in infos.items() if name not in kc.backends]

    def build(self) -> RunResult:
        for nodeid in list(self.phases):  # interrupted runs: what never finished is an error
            self._finish(nodeid, Outcome.ERROR, "the check did not finish (interrupted run)")
        impl = self.impl_seen or self.config.stash.get(IMPL_SEEN_KEY, None) or (get_config(self.config).impl, "")
        # under xdist the workers have the suites imported; the controller would import (and
        # assertion-rewrite) them all again here, half a second after the last check
        digest = self.catalogue_seen or _catalogue_digest()
        checks = sorted(self.results.values(), key=lambda c: c.nodeid)
        return RunResult(
            suite_version=SUITE_VERSION,
            implementation=impl[0],
            implementation_version=impl[1],
            started_at=self.started_at,
            finished_at=_now(),
            backends=self.backends(),
            checks=checks,
            catalogue_digest=digest,
            extra={"impl_spec": get_config(self.config).impl},
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        run = self.build()
        self.config.stash[RUN_KEY] = run
        report = get_config(self.config).report
        if report is not None:
            from pytest_kmsconform.report import write_formats

            write_formats(run, {"json": report, "md": report.with_suffix(".md")})
        self.config.hook.pytest_kmsconform_run_finished(config=self.config, run=run)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.config.stash.get(RUN_KEY, None)
        if run is None or not run.checks:
            return
        from pytest_kmsconform.report import terminal

        terminalreporter.write_sep("=", "kmsconform summary")
        for line in terminal.final_lines(run)[1:]:
            terminalreporter.write_line(line)


def _catalogue_digest() -> str:
    try:
        return catalogue_digest(catalogue())
    except (ImportError, CheckDefinitionError):
        return ""


def pytest_configure(config: pytest.Config) -> None:
    kc = get_config(config)
    if kc.enabled and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ResultCollector(config), "kmsconform-results")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On an xdist worker: hand what only the worker knows to the controller."""
    config = session.config
    if not hasattr(config, "workeroutput") or not get_config(config).enabled:
        return
    states = config.stash.get(STATES_KEY, [])
    config.workeroutput[PROPERTY] = {
        "backends": [{**asdict(s.info()), "duration_s": s.duration_s, "detail": describe(s)} for s in states],
        "impl": list(config.stash.get(IMPL_SEEN_KEY, ())) or None,
        "catalogue_digest": _catalogue_digest(),
    }


@pytest.fixture(autouse=True)
def _kmsconform_impl_seen(request: pytest.FixtureRequest) -> None:
    """Guard (autouse, records only): remembers which implementation the checks ran against."""
    if not isinstance(request.node, pytest.Item) or spec_of(request.node) is None:
        return
    impl = request.getfixturevalue("kmsconform_impl")
    request.config.stash[IMPL_SEEN_KEY] = (str(impl.name), str(impl.version))
