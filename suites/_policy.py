"""Set-up for the policy suite: the conformance policy, a counting signer, and the gate under test.

The policy (``kmsconform-policy/1`` as a mapping, ``docs/policy.md``) has one client per behaviour,
each with a fresh random token (only its SHA-256 is in the policy). The gate signs through a
:class:`CountingSigner` wrapping the implementation's own signer, so the suite sees every call that
reaches the key backend.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.clock import parse_time
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.suites import _support as sup
from pytest_kmsconform.suites._rendezvous import Rendezvous

from pytest_kmsconform.adapter import Implementation, ImplPolicyGate, ImplSigner
from pytest_kmsconform.asserts import assert_rejects
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import SignerFactory, implementation_calls
from pytest_kmsconform.outcomes import backend_not_selected

FORMAT = "kmsconform-policy/1"
CANONICAL, HASH = "/sign/canonical", "/sign/hash"
OPEN_RATE = {"requests": 1000, "per_seconds": 3600}
RATE_LIMIT = 5
PER_REQUEST, PER_DAY, DAILY_SIGNATURES = 100, 250, 3
CLIENTS = ("trader", "idem", "rate", "reader", "narrow", "counted")
DECISIONS_TOTAL = "kmsconform_policy_decisions_total"
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
                    "amount": {"pointer": "/amount", "per_request": PER_REQUEST, "per_day": PER_DAY},
                },
                hash={"kids": [kid]},
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


def trade(n: int | str, *, action: Any = "buy", amount: Any = 10, kind: str = "trade", **extra: Any) -> bytes:
    """A canonical payload; ``n`` keeps payloads distinct (no accidental replays)."""
    payload: dict[str, Any] = {"type": kind, "n": n, **extra}
    if action is not None:
        payload["action"] = action
    if amount is not None:
        payload["amount"] = amount
    return canonicalize_payload(payload)


@dataclass
class PolicyEnv:
    """One check's gate: the implementation, its counting signer, tokens, state directory."""

    impl: Implementation
    signer: CountingSigner
    tokens: dict[str, str]
    policy: dict[str, Any]
    state_dir: Path
    gate: ImplPolicyGate | None = None
    opened: list[ImplPolicyGate] = field(default_factory=list)

    def open(self) -> ImplPolicyGate:
        with implementation_calls(f"{self.impl.name}.policy_gate()"):
            self.gate = self.impl.policy_gate(self.signer, self.policy, self.state_dir)
        self.opened.append(self.gate)
        return self.gate

    def restart(self) -> ImplPolicyGate:
        """Close the gate and open a new one on the same policy and state: a restart."""
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

    @property
    def kill_file(self) -> Path:
        return self.state_dir / "kill-switch"

    # -- calls ---------------------------------------------------------------------------------------
    def sign_hash(self, client: str, n: int | str) -> Signature:
        return self.g.sign_hash(self.tokens[client], sup.digest(f"policy-{n}"))

    def sign_canonical(self, client: str, canonical: bytes) -> Signature:
        return self.g.sign_canonical(self.tokens[client], canonical)

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

    def close(self) -> None:
        for gate in self.opened:
            gate.close()
        self.opened.clear()


def make_policy_env(impl: Implementation, new_signer: SignerFactory, state_dir: Path) -> PolicyEnv:
    inner = new_signer()
    signer = CountingSigner(inner)
    tokens = {name: f"kc-{name}-{secrets.token_urlsafe(18)}" for name in (*CLIENTS, "admin")}
    env = PolicyEnv(impl, signer, tokens, conformance_policy(tokens, inner.kid), state_dir)
    env.open()
    return env


@pytest.fixture
def policy_env(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_new_signer: SignerFactory, tmp_path: Path
) -> Iterator[PolicyEnv]:
    """A gate under the conformance policy on the current target's signer (closed at teardown)."""
    if not kmsconform_target.backend:
        backend_not_selected("local", "no backend of that kind selected with --kmsconform-backend")
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


def verify_canonical(signer: ImplSigner, canonical: bytes, signature: Signature) -> None:
    """The signature is over seed 001's digest of ``canonical`` (genesis record)."""
    digest = bytes.fromhex(audit_digest(canonical, None).hex())
    signer.verify_signature(digest, signature)


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
