"""Set-up for the policy suite: the gate under test, the clients that play each role, a count of
the calls that reach the key backend.

Two ways to get a gate. Through an implementation's factory (``policy_gate``, Python and ``cmd:``
adapters): the suite opens it under its own conformance policy (one client per role, fresh random
tokens, only their SHA-256 in the policy) on a :class:`CountingSigner` wrapping the implementation's
own signer, so it sees every call that reaches the key backend; a second gate on the same state is
a restart. Or a service that is already running (``http://``, an implementation with
``running_policy()``): its gate enforces its own policy, which the suite reads (roles are found in
it, ``_policy_roles.py``), it counts backend calls with the service's ``/metrics``, reads the budgets
earlier requests used from the service's audit log, and cannot restart it.

Over our ~400-line rule on purpose: both ways to get a gate (a factory, a running service) share
the role table and the call counting; apart, each would restate them.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.canonical import audit_digest
from pytest_kmsconform.reference_impl.clock import parse_time
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.suites import _policy_roles as roles
from pytest_kmsconform.suites import _support as sup
from pytest_kmsconform.suites._rendezvous import Rendezvous

from pytest_kmsconform.adapter import Implementation, ImplPolicyGate, ImplSigner
from pytest_kmsconform.asserts import assert_rejects
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import SignerFactory, implementation_calls
from pytest_kmsconform.outcomes import backend_not_selected, not_applicable

FORMAT = "kmsconform-policy/1"
CANONICAL, HASH = roles.CANONICAL, roles.HASH
OPEN_RATE = {"requests": 1000, "per_seconds": 3600}
RATE_LIMIT = 5
PER_REQUEST, PER_DAY, DAILY_SIGNATURES = 100, 250, 3
OPEN_PER_DAY = 10**9
CLIENTS = ("trader", "idem", "rate", "reader", "narrow", "counted", "daily")
DECISIONS_TOTAL = "kmsconform_policy_decisions_total"
BACKEND_CALLS_TOTAL = "kmsconform_backend_sign_calls_total"
HOLD_S = 1.0
"""The longest a signing call waits for concurrent ones in the rate-limit check (not a timing assertion)."""


class CountingSigner:
    """Counts signing calls that reach the implementation's signer. While ``hold`` is set, each call
    first waits (briefly) for ``hold`` calls to be in flight at once, so a gate that lets concurrent
    requests past a limit before counting them is caught by the limit check, not by luck."""

    def __init__(self, inner: ImplSigner) -> None:
        self.inner = inner
        self.calls = 0
        self._lock = threading.Lock()
        self.hold: Rendezvous | None = None

    @property
    def backend(self) -> str:
        return str(getattr(self.inner, "backend", "wrapped"))

    @property
    def alg(self) -> Algorithm:
        return self.inner.alg

    @property
    def kid(self) -> str:
        return self.inner.kid

    def sign_digest(self, digest: bytes) -> Signature:
        with self._lock:
            self.calls += 1
        hold = self.hold
        if hold is not None:
            hold.arrive()  # ends short when fewer calls come (a correct gate): see _rendezvous
        return self.inner.sign_digest(digest)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.inner.verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        return self.inner.jwks()

    def rotate(self) -> str:
        return self.inner.rotate()

    def revoke(self, kid: str, reason: str) -> None:
        self.inner.revoke(kid, reason)

    def close(self) -> None:
        """The wrapped signer is closed by its owner."""


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def conformance_policy(tokens: Mapping[str, str], kid: str) -> dict[str, Any]:
    """The policy every KC-POL check runs under (``kid``: the key ``/sign/hash`` may use)."""
    trade = {"types": ["trade"], "rules": [{"pointer": "/action", "in": ["buy", "sell"]}]}

    def client(name: str, **rules: Any) -> dict[str, Any]:
        return {"token_sha256": _sha(tokens[name]), **rules}

    return {
        "format": FORMAT,
        "mode": "enforce",
        "admin": {"token_sha256": _sha(tokens["admin"])},
        "kill_switch": {"file": "kill-switch"},
        "replay": {"window_seconds": 600},
        "audit": {"path": "audit.sqlite", "key_file": "audit-key.pem"},
        "clients": {
            "trader": client(
                "trader",
                endpoints=[CANONICAL, HASH],
                rate=OPEN_RATE,
                replay="reject",
                canonical={
                    **trade,
                    "amount": {"pointer": "/amount", "per_request": PER_REQUEST, "per_day": OPEN_PER_DAY},
                },
                hash={"kids": [kid]},
            ),
            "daily": client(
                "daily",
                endpoints=[CANONICAL],
                rate=OPEN_RATE,
                canonical={
                    **trade,
                    "amount": {"pointer": "/amount", "per_request": PER_REQUEST, "per_day": PER_DAY},
                },
            ),
            "idem": client(
                "idem",
                endpoints=[CANONICAL, HASH],
                rate=OPEN_RATE,
                replay="return",
                canonical=trade,
                hash={"kids": [kid]},
            ),
            "rate": client(
                "rate", endpoints=[HASH], rate={"requests": RATE_LIMIT, "per_seconds": 3600}, hash={"kids": [kid]}
            ),
            "reader": client("reader"),
            "narrow": client("narrow", endpoints=[HASH], rate=OPEN_RATE, hash={"kids": ["another-key-*"]}),
            "counted": client(
                "counted", endpoints=[HASH], rate=OPEN_RATE, daily_signatures=DAILY_SIGNATURES, hash={"kids": [kid]}
            ),
        },
    }


class RunningPolicy(Protocol):
    """A policy gate that is already running (``running_policy()`` of an ``http://`` implementation)."""

    policy: Mapping[str, Any]
    """The policy it enforces (``kmsconform-policy/1`` as a mapping)."""
    tokens: Mapping[str, str]
    """Tokens the suite may present: client name -> token, and ``admin``."""
    gate: ImplPolicyGate
    kid: str
    """The key ``/sign/hash`` signs with now."""
    kill_file: Path | None
    """The kill-switch file, when it is on this machine (a service on loopback)."""
    kill_file_reason: str
    """Why ``kill_file`` is ``None``."""
    restart_reason: str
    """Why a restart is out of the suite's reach."""

    def unavailable_reason(self) -> str | None:
        """Why the policy checks cannot run against it (no policy file given...), or ``None``."""
        ...

    def backend_calls(self) -> int:
        """Signing calls that reached the key backend so far (its ``/metrics``)."""
        ...

    def verify(self, digest: bytes, signature: Signature) -> None:
        """Verify a signature of the service (raise when it does not verify)."""
        ...

    def kill_switch_engaged(self) -> bool: ...


@dataclass
class PolicyEnv:
    """One check's gate: the policy, the tokens, the clients playing each role, the backend count."""

    impl: Implementation
    policy: Mapping[str, Any]
    tokens: dict[str, str]
    kid: str
    signer: CountingSigner | None = None
    state_dir: Path | None = None
    running: RunningPolicy | None = None
    gate: ImplPolicyGate | None = None
    opened: list[ImplPolicyGate] = field(default_factory=list)
    calls_before: int = 0
    tag: str = ""
    """Keeps a running service's payloads and digests apart from earlier runs' (no replays across runs)."""

    def open(self) -> ImplPolicyGate:
        assert self.signer is not None and self.state_dir is not None
        with implementation_calls(f"{self.impl.name}.policy_gate()"):
            self.gate = self.impl.policy_gate(self.signer, self.policy, self.state_dir)
        self.opened.append(self.gate)
        return self.gate

    def require_restart(self) -> None:
        """Not applicable (before anything is sent) when the gate cannot be restarted by the suite."""
        if self.running is not None:
            not_applicable(self.running.restart_reason)

    def restart(self) -> ImplPolicyGate:
        """Close the gate and open a new one on the same policy and state: a restart."""
        self.require_restart()
        assert self.gate is not None
        self.gate.close()
        self.opened.remove(self.gate)
        return self.open()

    @property
    def g(self) -> ImplPolicyGate:
        assert self.gate is not None
        return self.gate

    @property
    def admin(self) -> str:
        return self.tokens["admin"]

    # -- roles ---------------------------------------------------------------------------------------
    def who(self, role: str) -> str:
        """The client playing ``role``; the check is not applicable when none does."""
        clients = self.policy.get("clients") or {}
        name = roles.pick(clients, set(self.tokens) - {"admin"}, self.kid, role)
        if name is None:
            what = roles.ROLES[role][0]
            not_applicable(f"the policy has no client (with a token the suite holds) that {what}")
        return name

    def client(self, role: str) -> Mapping[str, Any]:
        client: Mapping[str, Any] = self.policy["clients"][self.who(role)]
        return client

    def token(self, role: str) -> str:
        return self.tokens[self.who(role)]

    def amount_caps(self, role: str) -> Mapping[str, Any]:
        caps: Mapping[str, Any] = self.client(role)["canonical"]["amount"]
        return caps

    # -- the backend and the kill switch -----------------------------------------------------------
    def calls(self) -> int:
        """Signing calls that reached the key backend since the check began."""
        if self.running is not None:
            return self.running.backend_calls() - self.calls_before
        assert self.signer is not None
        return self.signer.calls

    def hold(self, rendezvous: Rendezvous | None) -> None:
        """Make concurrent signings meet before the backend (only where the suite holds the signer)."""
        if self.signer is not None:
            self.signer.hold = rendezvous

    def verify(self, digest: bytes, signature: Signature) -> None:
        if self.running is not None:
            self.running.verify(digest, signature)
        else:
            assert self.signer is not None
            self.signer.verify_signature(digest, signature)

    def kill_switch_engaged(self) -> bool:
        if self.running is not None:
            return self.running.kill_switch_engaged()
        return self.kill_file.exists()

    @property
    def kill_file(self) -> Path:
        if self.running is not None:
            if self.running.kill_file is None:
                not_applicable(self.running.kill_file_reason)
            return self.running.kill_file
        assert self.state_dir is not None
        return self.state_dir / str(self.policy["kill_switch"]["file"])

    # -- calls -------------------------------------------------------------------------------------
    def sign_hash(self, role: str, n: int | str) -> Signature:
        return self.g.sign_hash(self.token(role), self.digest(n))

    def sign_canonical(self, role: str, canonical: bytes) -> Signature:
        return self.g.sign_canonical(self.token(role), canonical)

    def payload(self, role: str, n: int | str, **changes: Any) -> bytes:
        """A payload the role's client may sign (see ``_policy_roles.payload`` for ``changes``)."""
        return roles.payload(self.client(role), f"{self.tag}{n}", **changes)

    def digest(self, n: int | str) -> bytes:
        return sup.digest(f"policy-{self.tag}{n}")

    def audit(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        records, jwks = self.g.audit(self.admin)
        return [dict(r) for r in records], dict(jwks)

    def decisions(self) -> list[dict[str, Any]]:
        """The ``policy.decision`` payloads of the audit log, oldest first."""
        records, _ = self.audit()
        return [
            r["payload"]
            for r in records
            if isinstance(r.get("payload"), dict) and r["payload"].get("type") == "policy.decision"
        ]

    def used(self, role: str, window_s: float) -> tuple[int, int]:
        """(signatures, amount) the role's client was granted in the last ``window_s`` seconds, from
        the audit log: what earlier requests left of a budget (nothing, under the suite's own gate)."""
        name = self.who(role)
        since = sup.now() - timedelta(seconds=window_s)
        count = amount = 0
        for d in self.decisions():
            if d.get("client") != name or d.get("decision") != "accept" or d.get("gate") != "sign":
                continue
            try:
                at = parse_time(str(d.get("at")))
            except ValueError:
                continue
            if at >= since:
                count += 1
                amount += int(d.get("amount") or 0)
        return count, amount

    def close(self) -> None:
        for gate in self.opened:
            gate.close()
        self.opened.clear()


def make_policy_env(impl: Implementation, new_signer: SignerFactory, state_dir: Path) -> PolicyEnv:
    inner = new_signer()
    signer = CountingSigner(inner)
    tokens = {name: f"kc-{name}-{secrets.token_urlsafe(18)}" for name in (*CLIENTS, "admin")}
    env = PolicyEnv(impl, conformance_policy(tokens, inner.kid), tokens, inner.kid, signer=signer, state_dir=state_dir)
    env.open()
    return env


def running_env(impl: Implementation, running: RunningPolicy) -> PolicyEnv:
    reason = running.unavailable_reason()
    if reason is not None:
        not_applicable(reason)
    env = PolicyEnv(impl, running.policy, dict(running.tokens), running.kid, running=running, gate=running.gate)
    env.calls_before = running.backend_calls()
    env.tag = secrets.token_hex(4)
    return env


@pytest.fixture
def policy_env(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_new_signer: SignerFactory, tmp_path: Path
) -> Iterator[PolicyEnv]:
    """A gate under the conformance policy on the current target's signer (closed at teardown), or
    the running service's gate under its own policy."""
    if not kmsconform_target.backend:
        backend_not_selected("local", "no backend of that kind selected with --kmsconform-backend")
    running_policy: Callable[[], RunningPolicy | None] | None = getattr(kmsconform_impl, "running_policy", None)
    running = running_policy() if running_policy is not None else None
    if running is not None:
        env = running_env(kmsconform_impl, running)
        yield env
        return
    env = make_policy_env(kmsconform_impl, kmsconform_new_signer, tmp_path / "policy-state")
    try:
        yield env
    finally:
        env.close()


def refused(call: Callable[[], object], code: str, what: str) -> Exception:
    """``call()`` must raise with ``code`` (the exception's ``code`` attribute)."""
    __tracebackhide__ = True
    exc = assert_rejects(call, what)
    got = getattr(exc, "code", None)
    got = getattr(got, "value", got)
    assert got == code, f"{what}: refused with code {got!r} ({type(exc).__name__}: {exc}); expected {code}"
    return exc


def logged(env: PolicyEnv, before: int, expected: Sequence[tuple[str | None, str]], what: str) -> None:
    """The audit log gained exactly the denials ``expected`` [(client, code)] (in order) after ``before``."""
    __tracebackhide__ = True
    new = env.decisions()[before:]
    denials = [(d.get("client"), d.get("code")) for d in new if d.get("decision") == "deny"]
    assert denials == list(expected), f"{what}: audit log shows denials {denials}, expected {list(expected)}"


def verify_canonical(env: PolicyEnv, canonical: bytes, signature: Signature) -> None:
    """The signature is over seed 001's digest of ``canonical`` (genesis record)."""
    env.verify(bytes.fromhex(audit_digest(canonical, None).hex()), signature)


def chain_and_signatures(records: Sequence[Mapping[str, Any]], jwks: Mapping[str, Any]) -> list[str]:
    """Problems of the audit log: chain links and hashes, then each signature under ``jwks``."""
    problems = sup.chain_problems(records)
    verifier = sup.reference_verifier(jwks)
    for i, record in enumerate(records):
        try:
            sig = Signature.from_json(record["signature"])
            verifier.verify_signature(bytes.fromhex(str(record["hash"])), sig, at=parse_time(str(record["ts"])))
        except Exception as exc:  # collected: every bad record is reported
            problems.append(f"record {i}: {type(exc).__name__}: {exc}")
    return problems


def metric_total(metrics_text: str, name: str) -> float:
    """The sum of every sample of counter ``name`` (``..._total``), over all labels."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total


def decision_counts(metrics_text: str) -> dict[tuple[str, str], float]:
    """``(decision, code) -> count`` summed over the other labels of ``kmsconform_policy_decisions_total``."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == DECISIONS_TOTAL:
                key = (sample.labels.get("decision", ""), sample.labels.get("code", ""))
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts
