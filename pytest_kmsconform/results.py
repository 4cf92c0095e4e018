"""The result model shared by the plugin (which produces it) and the reports (which render it).

One :class:`CheckResult` per executed check instance (a check id parametrized over backend and
algorithm). A :class:`RunResult` adds what was run against what. Both are JSON-safe through
``to_json``/``from_json`` so xdist workers can ship them to the controller via ``workeroutput``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"
    """The implementation did not declare the capability the check needs."""
    SKIPPED = "skipped"
    """The backend could not start here (e.g. no Docker); the reason says why."""
    ERROR = "error"
    """The harness or a fixture broke; never counted as passed."""


@dataclass(frozen=True)
class CheckResult:
    """One executed check instance.

    :param check_id: stable id, e.g. ``KC-ROT-003``.
    :param nodeid: the pytest node id (unique per parametrization).
    :param backend: backend name, or ``""`` for backend-independent checks.
    :param alg: algorithm name, or ``""``.
    """

    check_id: str
    title: str
    source: str
    suite: str
    backend: str
    alg: str
    outcome: Outcome
    message: str
    duration_s: float
    nodeid: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            check_id=str(data["check_id"]),
            title=str(data["title"]),
            source=str(data["source"]),
            suite=str(data["suite"]),
            backend=str(data["backend"]),
            alg=str(data["alg"]),
            outcome=Outcome(data["outcome"]),
            message=str(data["message"]),
            duration_s=float(data["duration_s"]),
            nodeid=str(data["nodeid"]),
        )


@dataclass(frozen=True)
class BackendInfo:
    name: str
    version: str
    status: str  # "started" | "skipped"
    reason: str = ""


@dataclass(frozen=True)
class RunResult:
    """Everything a report or certificate states about one conformance run."""

    suite_version: str
    implementation: str
    implementation_version: str
    started_at: str
    finished_at: str
    backends: Sequence[BackendInfo]
    checks: Sequence[CheckResult]
    catalogue_digest: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        totals = {o.value: 0 for o in Outcome}
        for check in self.checks:
            totals[check.outcome.value] += 1
        return totals

    def to_json(self) -> dict[str, Any]:
        return {
            "suite_version": self.suite_version,
            "implementation": {"name": self.implementation, "version": self.implementation_version},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "catalogue_digest": self.catalogue_digest,
            "backends": [asdict(b) for b in self.backends],
            "counts": self.counts(),
            "checks": [c.to_json() for c in self.checks],
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        return cls(
            suite_version=str(data["suite_version"]),
            implementation=str(data["implementation"]["name"]),
            implementation_version=str(data["implementation"]["version"]),
            started_at=str(data["started_at"]),
            finished_at=str(data["finished_at"]),
            catalogue_digest=str(data.get("catalogue_digest", "")),
            backends=[BackendInfo(**b) for b in data["backends"]],
            checks=[CheckResult.from_json(c) for c in data["checks"]],
            extra=dict(data.get("extra", {})),
        )
