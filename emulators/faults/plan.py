"""The fault plan: seeded rules saying which operation fails how, and how often.

Minimal form (JSON, or YAML when PyYAML is installed)::

    {"seed": 1, "rules": [{"operation": "Sign", "fault": "error", "error": "ThrottlingException",
                           "probability": 1.0}]}

Rule fields: ``operation`` (a name, a list of names, or ``"*"``), ``fault`` (:class:`FaultKind`),
``probability`` (default 1.0), ``backend`` (only requests of that backend kind), ``count`` (fire at
most that many times), ``after`` (let that many matching calls through first), ``ms`` and
``jitter_ms`` (latency, and how long ``timeout`` holds the connection), ``error`` (name from
:mod:`.catalog`), ``phase`` (``request``: fail before the backend sees the call; ``response``: the
backend executes it and the answer is lost or replaced, the case that makes retries duplicate).

All randomness comes from one ``random.Random(seed)`` under a lock, so a single-threaded run with the
same plan and the same calls injects the same faults.
"""

from __future__ import annotations

import enum
import json
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import error_class, fault_kinds
from .errors import FaultPlanError


class FaultKind(enum.StrEnum):
    LATENCY = "latency"
    ERROR = "error"
    RESET = "reset"
    TIMEOUT = "timeout"
    CORRUPT_SIGNATURE = "corrupt_signature"


class Phase(enum.StrEnum):
    REQUEST = "request"
    RESPONSE = "response"


DEFAULT_TIMEOUT_MS = 30_000
_RULE_FIELDS = frozenset(
    {"operation", "fault", "probability", "backend", "count", "after", "ms", "jitter_ms", "error", "phase", "comment"}
)


@dataclass(frozen=True)
class FaultRule:
    """One rule of a plan (see the module docstring for the fields)."""

    operations: frozenset[str]
    fault: FaultKind
    probability: float = 1.0
    backend: str | None = None
    count: int | None = None
    after: int = 0
    ms: float = 0.0
    jitter_ms: float = 0.0
    error: str | None = None
    phase: Phase = Phase.REQUEST

    def matches(self, backend: str | None, operations: Sequence[str]) -> bool:
        if self.backend is not None and backend != self.backend:
            return False
        return "*" in self.operations or any(op in self.operations for op in operations)


@dataclass(frozen=True)
class Fault:
    """A fault chosen for one call: what to do, and the rule index it came from."""

    rule: FaultRule
    index: int
    delay_s: float = 0.0


@dataclass
class Decision:
    """Everything applied to one call: summed latency, then at most one other fault."""

    delay_s: float = 0.0
    fault: Fault | None = None


@dataclass
class RuleStats:
    seen: int = 0
    fired: int = 0


@dataclass
class FaultPlan:
    """A loaded plan; :meth:`decide` is thread-safe."""

    seed: int
    rules: tuple[FaultRule, ...]
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _stats: list[RuleStats] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._stats = [RuleStats() for _ in self.rules]

    def decide(self, backend: str | None, operations: Sequence[str]) -> Decision:
        """Choose the faults for one call named by any of ``operations`` on ``backend``."""
        decision = Decision()
        with self._lock:
            for index, rule in enumerate(self.rules):
                if not rule.matches(backend, operations):
                    continue
                stats = self._stats[index]
                stats.seen += 1
                draw = self._rng.random()
                if stats.seen <= rule.after or (rule.count is not None and stats.fired >= rule.count):
                    continue
                if draw >= rule.probability:
                    continue
                delay = self._delay(rule)
                if rule.fault is FaultKind.LATENCY:
                    stats.fired += 1
                    decision.delay_s += delay
                elif decision.fault is None:
                    stats.fired += 1
                    decision.fault = Fault(rule=rule, index=index, delay_s=delay)
        return decision

    def _delay(self, rule: FaultRule) -> float:
        ms = rule.ms
        if rule.fault is FaultKind.TIMEOUT and ms == 0:
            ms = DEFAULT_TIMEOUT_MS
        if rule.jitter_ms:
            ms += self._rng.uniform(0, rule.jitter_ms)
        return ms / 1000.0

    def randrange(self, stop: int) -> int:
        """A seeded integer in ``[0, stop)`` (which bit a corruption flips)."""
        with self._lock:
            return self._rng.randrange(stop)

    def stats(self) -> list[dict[str, Any]]:
        """Per rule: its fault, operations, how many calls it saw and how many it hit."""
        with self._lock:
            return [
                {
                    "rule": i,
                    "fault": r.fault.value,
                    "operations": sorted(r.operations),
                    "seen": s.seen,
                    "fired": s.fired,
                }
                for i, (r, s) in enumerate(zip(self.rules, self._stats, strict=True))
            ]

    def fired(self, index: int | None = None) -> int:
        """How many times rule ``index`` (or any rule) fired."""
        with self._lock:
            if index is not None:
                return self._stats[index].fired
            return sum(s.fired for s in self._stats)

    def reset(self) -> None:
        """Reseed and clear the counters (a fresh run of the same plan)."""
        with self._lock:
            self._rng = random.Random(self.seed)
            self._stats = [RuleStats() for _ in self.rules]


def _number(rule: Mapping[str, Any], name: str, default: float, *, integer: bool = False) -> Any:
    value = rule.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise FaultPlanError(f"rule field {name!r} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if value < 0:
        raise FaultPlanError(f"rule field {name!r} must not be negative, got {value!r}")
    return value


def _rule(raw: Any, position: int) -> FaultRule:
    where = f"rule {position}"
    if not isinstance(raw, Mapping):
        raise FaultPlanError(f"{where}: a rule is an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _RULE_FIELDS)
    if unknown:
        raise FaultPlanError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_RULE_FIELDS))}"
        )
    operation = raw.get("operation")
    ops = [operation] if isinstance(operation, str) else operation
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) and o for o in ops):
        raise FaultPlanError(f"{where}: 'operation' must be a non-empty name or list of names")
    try:
        fault = FaultKind(str(raw.get("fault")))
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise FaultPlanError(f"{where}: unknown fault {raw.get('fault')!r}; known: {known}") from None
    try:
        phase = Phase(raw.get("phase", "request"))
    except ValueError:
        raise FaultPlanError(f"{where}: 'phase' is 'request' or 'response'") from None
    backend = raw.get("backend")
    if backend is not None and backend not in fault_kinds():
        raise FaultPlanError(f"{where}: unknown backend {backend!r}; known: {', '.join(fault_kinds())}")
    probability = _number(raw, "probability", 1.0)
    if probability > 1:
        raise FaultPlanError(f"{where}: 'probability' must be within [0, 1]")
    error = raw.get("error")
    if fault is FaultKind.ERROR:
        if not isinstance(error, str):
            raise FaultPlanError(f"{where}: fault 'error' needs an 'error' name")
        try:
            error_class(error, backend)
        except FaultPlanError as exc:
            raise FaultPlanError(f"{where}: {exc}") from None
    elif error is not None:
        raise FaultPlanError(f"{where}: 'error' only applies to fault 'error'")
    if phase is Phase.RESPONSE and fault in (FaultKind.LATENCY, FaultKind.CORRUPT_SIGNATURE):
        raise FaultPlanError(f"{where}: 'phase' applies to error, reset and timeout faults only")
    return FaultRule(
        operations=frozenset(ops),
        fault=fault,
        probability=float(probability),
        backend=backend,
        count=_number(raw, "count", None, integer=True),  # type: ignore[arg-type]
        after=_number(raw, "after", 0, integer=True),
        ms=float(_number(raw, "ms", 0.0)),
        jitter_ms=float(_number(raw, "jitter_ms", 0.0)),
        error=error,
        phase=phase,
    )


def plan_from_dict(data: Any) -> FaultPlan:
    """Validate a decoded plan; every problem raises :class:`FaultPlanError`."""
    if not isinstance(data, Mapping):
        raise FaultPlanError("a fault plan is an object with 'seed' and 'rules'")
    unknown = sorted(set(data) - {"seed", "rules", "comment"})
    if unknown:
        raise FaultPlanError(f"unknown plan field(s) {', '.join(unknown)}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise FaultPlanError("'seed' must be an integer")
    rules = data.get("rules")
    if not isinstance(rules, list):
        raise FaultPlanError("'rules' must be a list")
    return FaultPlan(seed=seed, rules=tuple(_rule(r, i) for i, r in enumerate(rules)))


def plan_from_text(text: str, *, fmt: str = "json") -> FaultPlan:
    """Parse a plan written as ``json`` or ``yaml``."""
    if fmt == "yaml":
        try:
            import yaml
        except ImportError:
            raise FaultPlanError("YAML fault plans need PyYAML (pip install pyyaml); use JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FaultPlanError(f"fault plan is not valid YAML: {exc}") from None
    elif fmt == "json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise FaultPlanError(f"fault plan is not valid JSON: {exc}") from None
    else:
        raise FaultPlanError(f"unknown fault plan format {fmt!r}")
    return plan_from_dict(data)


def load_plan(source: str | Path | Mapping[str, Any] | FaultPlan) -> FaultPlan:
    """A plan from a file (``.json``, ``.yaml``/``.yml``), inline JSON text, a dict, or a plan."""
    if isinstance(source, FaultPlan):
        return source
    if isinstance(source, Mapping):
        return plan_from_dict(source)
    text = str(source)
    if isinstance(source, str) and text.lstrip().startswith("{"):
        return plan_from_text(text)
    path = Path(text)
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FaultPlanError(f"cannot read fault plan {path}: {exc.strerror}") from None
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
    return plan_from_text(content, fmt=fmt)
