"""What each check instance is (id, title, source, suite) and where it runs (backend, algorithm),
attached to its item at collection from the data that parametrized it, so every report (xdist
relays them, JUnit shows them) carries it and nothing downstream parses a node id.

Only a report xdist makes for a crashed worker carries no properties; :func:`meta_from_nodeid`
finds that instance in the table of every instance the selected backends give
(:func:`~pytest_kmsconform.checks.targets_for`), again without guessing at names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from pytest_kmsconform.checks import CheckDefinitionError, CheckSpec, Target, catalogue_index, current_target, spec_of
from pytest_kmsconform.checks import targets_for as _targets_for

PROPERTY = "kmsconform"


@dataclass(frozen=True)
class CheckMeta:
    """One check instance: its catalogue entry and its target, as names."""

    check_id: str
    title: str
    source: str
    suite: str
    backend: str
    alg: str

    @classmethod
    def of(cls, spec: CheckSpec, target: Target) -> CheckMeta:
        alg = target.alg.value if target.alg else ""
        return cls(spec.check_id, spec.title, spec.source, spec.suite, target.backend, alg)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CheckMeta:
        data = json.loads(text)
        return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})


def meta_of(report: pytest.TestReport) -> CheckMeta | None:
    """The metadata a check's report carries, or ``None`` for other tests."""
    for name, value in report.user_properties:
        if name == PROPERTY:
            return CheckMeta.from_json(str(value))
    return None


def _split(nodeid: str) -> tuple[str, str, str]:
    """``(module stem, function, parameter id)``: ``::`` and ``[`` never occur inside the parts."""
    path, _, rest = nodeid.partition("::")
    func, _, param = rest.partition("[")
    return path.rpartition("/")[2].removesuffix(".py"), func, param.removesuffix("]")


class NodeidMeta:
    """:func:`meta_from_nodeid` for many node ids over one backend selection: each check's targets
    are listed once (the run's progress resolves every collected id, ~2,000 of them)."""

    def __init__(self, backends: Sequence[str]) -> None:
        self._backends = list(backends)
        self._targets: dict[str, list[tuple[str, Target]]] = {}

    def _ids(self, spec: CheckSpec) -> list[tuple[str, Target]]:
        found = self._targets.get(spec.check_id)
        if found is None:
            found = [(f"-{t.id}-", t) for t in _targets_for(spec, self._backends) if t.id]
            self._targets[spec.check_id] = found
        return found

    def __call__(self, nodeid: str) -> CheckMeta | None:
        stem, func, param = _split(nodeid)
        spec = catalogue_index().get((stem, func))
        if spec is None:
            return None
        if spec.scope == "none":
            return CheckMeta.of(spec, Target("", "", None))
        # the instance's id is one of its targets' ids, alone or beside the check's own parameters
        padded = f"-{param}-"
        matches = [t for key, t in self._ids(spec) if key in padded]
        if not matches:
            return CheckMeta.of(spec, Target("", "", None))
        return CheckMeta.of(spec, max(matches, key=lambda t: len(t.id)))


def meta_from_nodeid(nodeid: str, backends: Sequence[str]) -> CheckMeta | None:
    """The metadata of a bundled check instance from its node id, over the selected ``backends``."""
    return NodeidMeta(backends)(nodeid)


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
        item.user_properties.append((PROPERTY, CheckMeta.of(spec, current_target(item)).to_json()))
        item.user_properties.append(("kmsconform_check_id", spec.check_id))
