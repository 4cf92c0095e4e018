"""Turn test reports into :class:`~pytest_kmsconform.results.CheckResult` values, merge them across
xdist workers, print the summary, write the report, and call ``pytest_kmsconform_run_finished``.

Results are built from the reports the controller sees (``pytest_runtest_logreport``), which
xdist forwards from every worker, so a check is never lost: a check whose worker crashed is
``error``. Workers add what only they know (started backends, the implementation's name) to
``config.workeroutput["kmsconform"]``, read on the controller in ``pytest_testnodedown``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_kmsconform import SUITE_VERSION
from pytest_kmsconform.backends import SKIP_PREFIX, STATES_KEY, describe
from pytest_kmsconform.checks import (
    NA_PREFIX,
    CheckDefinitionError,
    catalogue,
    catalogue_digest,
    catalogue_index,
    current_target,
    spec_of,
)
from pytest_kmsconform.options import get_config
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.results import BackendInfo, CheckResult, Outcome, RunResult

PROPERTY = "kmsconform"
IMPL_SEEN_KEY = pytest.StashKey[tuple[str, str]]()
RUN_KEY = pytest.StashKey[RunResult]()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Attach each check's metadata to its item, so every report (and JUnit) carries it."""
    for item in items:
        try:
            spec = spec_of(item)
        except CheckDefinitionError as exc:
            raise pytest.UsageError(str(exc)) from None
        if spec is None:
            continue
        target = current_target(item)
        meta = {
            "check_id": spec.check_id,
            "title": spec.title,
            "source": spec.source,
            "suite": spec.suite,
            "backend": target.backend,
            "alg": target.alg.value if target.alg else "",
        }
        item.user_properties.append((PROPERTY, json.dumps(meta, sort_keys=True)))
        item.user_properties.append(("kmsconform_check_id", spec.check_id))


def _meta(report: pytest.TestReport) -> dict[str, str] | None:
    for name, value in report.user_properties:
        if name == PROPERTY:
            meta: dict[str, str] = json.loads(str(value))
            return meta
    return None


def meta_from_nodeid(nodeid: str) -> dict[str, str] | None:
    """Metadata of a bundled check from its node id alone (for a worker that crashed in set-up)."""
    path, _, rest = nodeid.partition("::")
    func, _, param = rest.partition("[")
    spec = catalogue_index().get((path.rpartition("/")[2].removesuffix(".py"), func))
    if spec is None:
        return None
    backend, alg, param = "", "", param.removesuffix("]")
    for candidate in Algorithm:
        if spec.scope != "none" and (param == candidate.value or param.endswith("-" + candidate.value)):
            alg, backend = candidate.value, param.removesuffix(candidate.value).removesuffix("-")
    return {
        "check_id": spec.check_id,
        "title": spec.title,
        "source": spec.source,
        "suite": spec.suite,
        "backend": backend,
        "alg": alg,
    }


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    text = report.longreprtext.strip()
    return text.splitlines()[-1] if text else ""


def classify(phases: Mapping[str, pytest.TestReport]) -> tuple[Outcome, str]:
    """Outcome and message of one check instance from its setup/call/teardown reports."""
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    for rep in (setup, call):
        if rep is not None and rep.skipped:
            reason = _message(rep)
            if reason.startswith(NA_PREFIX):
                return Outcome.NOT_APPLICABLE, reason.removeprefix(NA_PREFIX)
            return Outcome.SKIPPED, reason.removeprefix(SKIP_PREFIX)
    if setup is not None and setup.failed:
        message = _message(setup)
        if "ImplementationFault" in message:  # the implementation raised while the check was set up
            return Outcome.FAILED, message.split("ImplementationFault: ", 1)[-1]
        return Outcome.ERROR, f"set-up error: {message}"
    if call is not None and call.failed:
        return Outcome.FAILED, _message(call)
    if teardown is not None and teardown.failed:
        return Outcome.ERROR, f"teardown error: {_message(teardown)}"
    if call is not None and call.passed:
        return Outcome.PASSED, ""
    return Outcome.ERROR, "the check did not run to completion"


class ResultCollector:
    """Lives on the controller (or the only process); gathers every check instance."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started_at = _now()
        self.phases: dict[str, dict[str, pytest.TestReport]] = defaultdict(dict)
        self.meta: dict[str, dict[str, str]] = {}
        self.nodes: dict[str, str] = {}
        self.results: dict[str, CheckResult] = {}
        self.worker_backends: list[dict[str, Any]] = []
        self.impl_seen: tuple[str, str] | None = None
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
            check_id=meta["check_id"],
            title=meta["title"],
            source=meta["source"],
            suite=meta["suite"],
            backend=meta["backend"],
            alg=meta["alg"],
            outcome=outcome,
            message=message,
            duration_s=round(duration, 4),
            nodeid=nodeid,
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        meta = _meta(report)
        if meta is None and report.nodeid not in self.meta and report.when not in ("setup", "call", "teardown"):
            meta = meta_from_nodeid(report.nodeid)  # a crash report carries no properties
        if meta is not None:
            self.meta[report.nodeid] = meta
        elif report.nodeid not in self.meta:
            return
        node = getattr(report, "node", None)
        if node is not None:
            self.nodes[report.nodeid] = str(node.workerinput.get("workerid", "?"))
        if report.when not in ("setup", "call", "teardown"):  # xdist's report for a crashed worker
            self._finish(report.nodeid, Outcome.ERROR, f"worker crashed: {_message(report)}")
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
        try:
            digest = catalogue_digest(catalogue())
        except (ImportError, CheckDefinitionError):
            digest = ""
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
            write_report(run, report)
        self.config.hook.pytest_kmsconform_run_finished(config=self.config, run=run)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.config.stash.get(RUN_KEY, None)
        if run is None or not run.checks:
            return
        for line in summary_lines(run, self.worker_backends):
            terminalreporter.write_line(line)


def write_report(run: RunResult, path: Path) -> None:
    """``PATH.json`` (the report) and ``PATH.md`` (a Markdown summary) via the report renderers."""
    from pytest_kmsconform.report import json_report, markdown

    path.parent.mkdir(parents=True, exist_ok=True)
    json_report.write(run, path)
    markdown.write(run, path.with_suffix(".md"))


def summary_lines(run: RunResult, worker_backends: list[dict[str, Any]]) -> list[str]:
    """The terminal summary: backend x suite counts, then every non-passing applicable check."""
    lines = ["", "=" * 30 + " kmsconform summary " + "=" * 30]
    for data in worker_backends:
        if data.get("status") == "started":
            lines.append(
                f"kmsconform: backend {data['name']} ({data['version']}) started in {data['duration_s']:.1f} s"
            )
    for info in run.backends:
        if info.status == "skipped":
            lines.append(f"kmsconform: backend {info.name} skipped: {info.reason}")
    groups: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {o.value: 0 for o in Outcome})
    for check in run.checks:
        groups[(check.suite, check.backend or "-")][check.outcome.value] += 1
    lines.append(f"{'suite':<11} {'backend':<16} {'passed':>7} {'failed':>7} {'n/a':>5} {'skipped':>8} {'error':>6}")
    for (suite, backend), counts in sorted(groups.items()):
        lines.append(
            f"{suite:<11} {backend:<16} {counts['passed']:>7} {counts['failed']:>7} "
            f"{counts['not_applicable']:>5} {counts['skipped']:>8} {counts['error']:>6}"
        )
    bad = [c for c in run.checks if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    for check in bad:
        where = "-".join(p for p in (check.backend, check.alg) if p) or "-"
        lines.append(f"{check.outcome.value.upper()} {check.check_id} [{where}] {check.title}: {check.message}")
    counts = run.counts()
    lines.append(
        f"kmsconform: {counts['passed']} passed, {counts['failed']} failed, {counts['not_applicable']} not applicable, "
        f"{counts['skipped']} skipped, {counts['error']} error (impl {run.implementation} {run.implementation_version})"
    )
    return lines


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
    }


@pytest.fixture(autouse=True)
def _kmsconform_impl_seen(request: pytest.FixtureRequest) -> None:
    """Guard (autouse, records only): remembers which implementation the checks ran against."""
    if not isinstance(request.node, pytest.Item) or spec_of(request.node) is None:
        return
    impl = request.getfixturevalue("kmsconform_impl")
    request.config.stash[IMPL_SEEN_KEY] = (str(impl.name), str(impl.version))
