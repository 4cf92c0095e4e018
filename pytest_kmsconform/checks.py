"""The check marker, the check catalogue, parametrization over backend x algorithm, and gating.

Every conformance check is a test function carrying exactly one marker::

    @pytest.mark.kmsconform_check(
        id="KC-SIG-002", title="...", source="seed 001", requires=[Capability.SIGN],
        scope="backend", algs="asymmetric", flags=["BASIC"],
    )
    def test_x(kmsconform_target, ...): ...

* ``scope="backend"``: one instance per selected backend x algorithm the backend kind supports
  (:attr:`pytest_kmsconform.kinds.BackendKind.algorithms`); ``"alg"``: one per algorithm,
  no backend; ``"none"``: a single instance (or the test's own ``parametrize``).
* ``algs``: ``all``, ``asymmetric``, ``symmetric`` or ``ml-dsa`` (the FIPS 204 parameter sets).
* ``kinds``: backend kinds a ``backend`` check is limited to (default: every kind); when no backend
  of those kinds is selected the check has one instance without a backend, which it skips.
* A check whose ``requires`` (or backend kind / algorithm) the implementation did not declare is
  stopped with :func:`~pytest_kmsconform.outcomes.not_applicable` and reported ``not_applicable``.

The catalogue (:func:`catalogue`) is read from the markers of the bundled suite modules; ids are
unique and never reused (``suites/ids.txt`` lists every id ever issued).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_kmsconform import backend_registry
from pytest_kmsconform.capabilities import Capability, backend_algorithms
from pytest_kmsconform.options import get_config
from pytest_kmsconform.outcomes import not_applicable
from pytest_kmsconform.reference_impl.algorithms import Algorithm

MARKER = "kmsconform_check"

SUITES: dict[str, str] = {
    "SIG": "signing",
    "PQ": "postquantum",
    "ROT": "rotation",
    "REV": "revocation",
    "AUD": "audit",
    "AIR": "airgap",
    "GRD": "guard",
    "MS": "multisig",
    "REL": "reliability",
    "ENV": "envelope",
    "POL": "policy",
    "DEL": "delegation",
    "LP": "least_privilege",
}
"""id prefix -> suite name; the suite module is ``pytest_kmsconform.suites.test_<suite>``."""

FLAGS: dict[str, str] = {
    "BASIC": "proves the primitive works and the harness is sound; later checks assume it",
    "INTEROP": "signatures must cross between the implementation and the reference",
    "AUTH_BYPASS": "accepting this would let a forged or altered approval through",
    "SECRET_LEAK": "secret key material would be published",
    "KEY_LIFECYCLE": "rotation, retirement or revocation semantics",
    "CHAIN_INTEGRITY": "a tampered audit chain must be reported with the right code and index",
    "ATOMICITY": "a failed append must leave no trace",
    "CONCURRENCY": "concurrent writers must not fork the chain",
    "NETWORK_ACCESS": "verification must work with no network at all",
    "FAIL_OPEN": "the service must refuse to start rather than fall back to a weak signer",
    "THRESHOLD": "N-of-M counting of independent signatures",
    "RESILIENCE": "a backend fault must not lose, duplicate or corrupt a record, and retries must stay bounded",
    "KEY_PERSISTENCE": "a key sealed at rest must come back intact, only through the KMS, and never in clear",
    "POLICY_BYPASS": "a request the signing policy refuses would be signed, or reach the key backend",
    "AUDIT_TRAIL": "a signing operation would leave no event a SIEM can alert on, or one that leaks",
    "LEAST_PRIVILEGE": "the signer would need more than the seed's policy grants, or stop when its credentials expire",
}

_ID = re.compile(r"^KC-([A-Z]+)-(\d{3})$")
_ALG_FILTERS: dict[str, frozenset[Algorithm]] = {
    "all": frozenset(Algorithm),
    "asymmetric": frozenset(a for a in Algorithm if not a.is_symmetric),
    "symmetric": frozenset(a for a in Algorithm if a.is_symmetric),
    "ml-dsa": frozenset(a for a in Algorithm if a.is_ml_dsa),
}
_SCOPES = ("backend", "alg", "none")


class CheckDefinitionError(Exception):
    """A ``kmsconform_check`` marker that is malformed (unknown flag, bad id, ...)."""


@dataclass(frozen=True)
class CheckSpec:
    """One catalogue entry."""

    check_id: str
    title: str
    source: str
    suite: str
    requires: tuple[Capability, ...]
    scope: str
    algs: str
    flags: tuple[str, ...]
    kinds: tuple[str, ...] = ()

    @property
    def algorithms(self) -> frozenset[Algorithm]:
        return _ALG_FILTERS[self.algs]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "title": self.title,
            "source": self.source,
            "suite": self.suite,
            "requires": [c.value for c in self.requires],
            "scope": self.scope,
            "algs": self.algs,
            "flags": list(self.flags),
            "kinds": list(self.kinds),
        }


def spec_from_kwargs(kwargs: dict[str, Any], where: str) -> CheckSpec:
    """Validate marker arguments; every defect is a :class:`CheckDefinitionError` naming ``where``."""
    allowed = {"id", "title", "source", "requires", "scope", "algs", "flags", "kinds"}
    extra = sorted(set(kwargs) - allowed)
    if extra:
        raise CheckDefinitionError(f"{where}: unknown {MARKER} argument(s) {extra}")
    check_id = kwargs.get("id")
    match = _ID.match(check_id) if isinstance(check_id, str) else None
    if match is None or match.group(1) not in SUITES:
        raise CheckDefinitionError(f"{where}: id {check_id!r} is not KC-<{'|'.join(SUITES)}>-NNN")
    assert isinstance(check_id, str)
    title, source = kwargs.get("title"), kwargs.get("source")
    if not isinstance(title, str) or not title or "\n" in title:
        raise CheckDefinitionError(f"{where}: {check_id} needs a one-line title")
    if not isinstance(source, str) or not source:
        raise CheckDefinitionError(f"{where}: {check_id} needs a source (seed file or RFC)")
    try:
        requires = tuple(Capability(c) for c in kwargs.get("requires", ()))
    except ValueError as exc:
        raise CheckDefinitionError(f"{where}: {check_id}: {exc}") from None
    scope, algs = kwargs.get("scope", "none"), kwargs.get("algs", "all")
    if scope not in _SCOPES:
        raise CheckDefinitionError(f"{where}: {check_id}: scope must be one of {_SCOPES}")
    if algs not in _ALG_FILTERS:
        raise CheckDefinitionError(f"{where}: {check_id}: algs must be one of {sorted(_ALG_FILTERS)}")
    flags = tuple(kwargs.get("flags", ()))
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise CheckDefinitionError(f"{where}: {check_id}: unknown flag(s) {unknown}; known: {sorted(FLAGS)}")
    kinds = kwargs.get("kinds", ())
    if isinstance(kinds, str) or not all(isinstance(k, str) and k for k in kinds):
        raise CheckDefinitionError(f"{where}: {check_id}: kinds must be a list of backend kind names")
    if kinds and scope != "backend":
        raise CheckDefinitionError(f"{where}: {check_id}: kinds only applies to scope='backend'")
    return CheckSpec(check_id, title, source, SUITES[match.group(1)], requires, scope, algs, flags, tuple(kinds))


def spec_of(item: pytest.Item) -> CheckSpec | None:
    """The check spec of a collected item, or ``None`` for ordinary tests."""
    marks = list(item.iter_markers(MARKER))
    if not marks:
        return None
    if len(marks) > 1:
        raise CheckDefinitionError(f"{item.nodeid}: more than one {MARKER} marker")
    return spec_from_kwargs(dict(marks[0].kwargs), item.nodeid)


def suite_modules() -> list[str]:
    return [f"pytest_kmsconform.suites.test_{name}" for name in sorted(set(SUITES.values()))]


def _specs_in_module(module: Any) -> Iterator[tuple[str, CheckSpec]]:
    for name, func in sorted(vars(module).items()):
        if not name.startswith("test_") or not inspect.isfunction(func):
            continue
        for mark in getattr(func, "pytestmark", []):
            if mark.name == MARKER:
                yield name, spec_from_kwargs(dict(mark.kwargs), f"{module.__name__}.{name}")


@functools.cache
def catalogue_index() -> dict[tuple[str, str], CheckSpec]:
    """(module file stem, test function name) -> spec, for the bundled suites (built once)."""
    index: dict[tuple[str, str], CheckSpec] = {}
    for module_name in suite_modules():
        module = importlib.import_module(module_name)
        for name, spec in _specs_in_module(module):
            index[(module_name.rpartition(".")[2], name)] = spec
    return index


def catalogue() -> list[CheckSpec]:
    """Every check of the bundled suites, sorted by id; duplicate ids raise."""
    specs: list[CheckSpec] = []
    for module_name in suite_modules():
        specs.extend(spec for _, spec in _specs_in_module(importlib.import_module(module_name)))
    seen: dict[str, CheckSpec] = {}
    for spec in specs:
        if spec.check_id in seen:
            raise CheckDefinitionError(f"duplicate check id {spec.check_id}")
        seen[spec.check_id] = spec
    return sorted(specs, key=lambda s: s.check_id)


def catalogue_digest(specs: Sequence[CheckSpec]) -> str:
    """``sha256:<hex>`` of the canonical JSON of (id, title, source) sorted by id."""
    entries = [
        {"id": s.check_id, "source": s.source, "title": s.title} for s in sorted(specs, key=lambda s: s.check_id)
    ]
    data = json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Target:
    """Where one check instance runs: a backend (name and kind) and an algorithm, either optional."""

    backend: str
    kind: str
    alg: Algorithm | None

    @property
    def id(self) -> str:
        return "-".join(p for p in (self.backend, self.alg.value if self.alg else "") if p)


def targets_for(spec: CheckSpec, backends: Sequence[str]) -> list[Target]:
    """The instances of ``spec`` over the selected ``backends``, in a deterministic order."""
    if spec.scope == "alg":
        return [Target("", "", alg) for alg in Algorithm if alg in spec.algorithms]
    if spec.scope == "none":
        return [Target("", "", None)]
    result: list[Target] = []
    for name in backends:
        provider = backend_registry.get(name)
        kind = provider.kind
        if spec.kinds and kind not in spec.kinds:
            continue
        # algorithms the backend declares it cannot do get instances too, reported not applicable
        declared = {Algorithm.parse(a) for a in unsupported_algorithms(name)}
        wanted = (backend_algorithms(kind) | declared) & spec.algorithms
        result.extend(Target(name, kind, alg) for alg in Algorithm if alg in wanted)
    if spec.kinds and not result:
        # one backend-less instance: gated like any other, then skipped as "not selected"
        return [Target("", spec.kinds[0], None)]
    return result


def unsupported_algorithms(backend: str) -> dict[str, str]:
    """What the backend's provider declares it cannot sign (algorithm name -> reason), if anything."""
    declared = getattr(backend_registry.get(backend), "unsupported_algorithms", None)
    return dict(declared) if declared else {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(id, title, source, requires=(), scope='none', algs='all', flags=(), kinds=()): "
        "a kmsconform conformance check",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marks = [m for m in metafunc.definition.iter_markers(MARKER)]
    if not marks or "kmsconform_target" not in metafunc.fixturenames:
        return
    spec = spec_from_kwargs(dict(marks[0].kwargs), metafunc.definition.nodeid)
    kc = get_config(metafunc.config)
    targets = targets_for(spec, kc.backends)
    metafunc.parametrize("kmsconform_target", targets, ids=[t.id for t in targets])


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run checks suite by suite in catalogue order (signing first: later suites build on it).

    Only the positions held by checks are reordered; the sort is stable, so every xdist worker
    gets the same order.
    """
    order = {suite: n for n, suite in enumerate(SUITES.values())}
    slots = [i for i, item in enumerate(items) if item.get_closest_marker(MARKER) is not None]
    ranked = sorted(
        (items[i] for i in slots),
        key=lambda item: order.get(str(item.path.stem).removeprefix("test_"), len(order)),
    )
    for i, item in zip(slots, ranked, strict=True):
        items[i] = item


@pytest.fixture
def kmsconform_target(request: pytest.FixtureRequest) -> Target:
    """The :class:`Target` (backend, kind, algorithm) of the current check instance (function scope).

    Parametrized by the plugin from the check's ``scope``; a test without the marker gets the
    empty target.
    """
    param = getattr(request, "param", None)
    return param if isinstance(param, Target) else Target("", "", None)


def current_target(item: pytest.Item) -> Target:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and isinstance(callspec.params.get("kmsconform_target"), Target):
        target: Target = callspec.params["kmsconform_target"]
        return target
    return Target("", "", None)


@pytest.fixture(autouse=True)
def _kmsconform_gate(request: pytest.FixtureRequest) -> None:
    """Guard (autouse, asserts only): reports a check not applicable when its capability is undeclared."""
    spec = spec_of(request.node) if isinstance(request.node, pytest.Item) else None
    if spec is None:
        return
    impl = request.getfixturevalue("kmsconform_impl")
    target = current_target(request.node)
    reason = impl.capabilities().missing(
        spec.requires, backend_kind=target.kind or None, alg=target.alg if spec.scope != "none" else None
    )
    if reason is not None:
        not_applicable(f"{reason} (implementation {impl.name}, backend {target.backend or '-'})")
    if target.backend and target.alg is not None and spec.scope == "backend":
        why = unsupported_algorithms(target.backend).get(target.alg.value)
        if why is not None:
            not_applicable(f"backend {target.backend} cannot sign {target.alg.value}: {why}")
