"""Suite REL, reliability under backend faults (issue 10): the implementation's audit log, reached
through a loopback fault proxy in front of the backend, never commits a record without a valid
signature, never loses an acknowledged record, never duplicates one on retry, keeps retries
bounded, raises on failure, and survives throttling with backoff.

An implementation that offers ``virtual_backoff`` (the reference does; ``docs/adapter.md``) backs
off on a clock the suite hands it: KC-REL-002 and KC-REL-006 then assert that every retry waited a
positive time first, without the run waiting it out. Others back off in real time and are judged on
survival and bounds.

Faults are injected on the wire (:mod:`pytest_kmsconform.emulators.faults`), so these checks apply
to backends reached over HTTP: ``aws-kms``, ``vault``, ``signing-proxy``, ``gcp-kms``, ``azure-keyvault``
(HTTPS: the proxy terminates TLS with a CA of its own and verifies the emulator's) and ``yubihsm`` (its
connector: the device's own error frames such as ``SESSIONS_FULL``, connector errors, resets and
stalls of the ``SESSION_MESSAGE`` that carries each sign command). The YubiHSM's signatures travel
encrypted and MACed (SCP03), so the two checks that flip a signature on the wire (KC-REL-007/008)
are not applicable there. In-process backends (``local``, ``mock``, ``pkcs11``) are not applicable
here; the reference implementation is tested on them with the in-process hook in ``tests/reliability``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.emulators.faults import FaultProxy, plan_from_dict
from pytest_kmsconform.emulators.faults.handles import FaultProxyDetails, faulted_handle
from pytest_kmsconform.emulators.faults.invariants import Outcome, audit_problems, drive
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.verifier import Verifier

from pytest_kmsconform import kinds
from pytest_kmsconform.adapter import ImplAuditLog, Implementation, ImplSigner, VirtualBackoff
from pytest_kmsconform.backends import BackendPool, require_backend
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target, spec_of
from pytest_kmsconform.implementation import short_label
from pytest_kmsconform.outcomes import not_applicable

SIGN, AUDIT_LOG = Capability.SIGN, Capability.AUDIT_LOG
SIGN_OPERATIONS = ["Sign", "GenerateMac", "transit/sign", "transit/hmac", "/sign/hash", "/sign/canonical"]
SIGN_OPERATIONS += ["AsymmetricSign", "MacSign"]  # gcp-kms
SIGN_OPERATIONS.append("keys/sign")  # azure-keyvault
# YubiHSM: commands travel encrypted (SCP03) inside SESSION_MESSAGE, so the proxy sees only the outer
# frame; while a rig appends, the signer's session messages are its sign commands.
SIGN_OPERATIONS.append("SESSION_MESSAGE")
SEED = 10
APPENDS = 4
APPEND_BOUND_S = 60.0
"""No append may take longer than this under any fault (retries must be bounded in time)."""
CALLS_PER_APPEND_BOUND = 30
FLIPS_SIGNATURES = frozenset({"test_corrupt_signature_never_committed", "test_some_corrupt_signatures"})
"""Checks whose fault flips a signature on the wire."""
"""No append may call the backend's sign operation more often than this (bounded retries)."""


class BackoffRecorder:
    """The clock handed to an implementation that offers ``virtual_backoff``: each backoff sleep is
    recorded and added to the clock at once instead of being waited out."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._lock = threading.Lock()
        self._slept = 0.0

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._slept += max(0.0, seconds)

    def clock(self) -> float:
        return time.monotonic() + self._slept

    @property
    def slept(self) -> float:
        return self._slept


@dataclass
class Rig:
    """The implementation's signer and audit log, reached through a fault proxy (disarmed at first).
    ``backoff`` records the backoff sleeps when the implementation lets the suite hand it a clock."""

    proxy: FaultProxy
    signer: ImplSigner
    log: ImplAuditLog
    target: Target
    backoff: BackoffRecorder | None = None

    def arm(self, *rules: Mapping[str, Any]) -> None:
        self.proxy.plan = plan_from_dict({"seed": SEED, "rules": [dict(r) for r in rules]})

    def disarm(self) -> None:
        self.proxy.plan = plan_from_dict({"rules": []})

    def append_all(self, count: int = APPENDS) -> Outcome:
        return drive(lambda payload: self.log.append(payload), count, self.target.id)

    def injected(self) -> int:
        return self.proxy.plan.fired()

    def problems(self, outcome: Outcome) -> list[str]:
        self.disarm()
        records = list(self.log.records())
        asymmetric = self.target.alg is not None and not self.target.alg.is_symmetric
        verifier = Verifier(self.signer.jwks()) if asymmetric else None

        def verify(digest: bytes, sig: Signature) -> None:
            # asymmetric: the reference verifier from the key set alone; HMAC: the signer itself
            if verifier is not None:
                verifier.verify_signature(digest, sig)
            else:
                self.signer.verify_signature(digest, sig)

        return audit_problems(records, outcome.acked, verify)


def fault_proxy_applies(kind: str, *, flips_signatures: bool = False) -> bool:
    """Whether the fault proxy can stand in front of ``kind`` (and, with ``flips_signatures``, flip
    its signatures on the wire)."""
    found = kinds.find(kind)
    if found is None or found.faults is None:
        return False
    return found.faults.signatures_on_wire or not flips_signatures


def sign_rule(**rule: Any) -> dict[str, Any]:
    return {"operation": SIGN_OPERATIONS, **rule}


@pytest.fixture
def fault_rig(
    request: pytest.FixtureRequest,
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_backend_pool: BackendPool,
    tmp_path: Path,
) -> Iterator[Rig]:
    """A :class:`Rig` for the current backend x algorithm (function scope; stopped at teardown)."""
    target = kmsconform_target
    if not fault_proxy_applies(target.kind):
        not_applicable(
            f"backend {target.backend} ({target.kind}) is not reached over HTTP, so the fault proxy "
            "cannot stand in front of it"
        )
    flips = getattr(request.node, "originalname", "") in FLIPS_SIGNATURES
    if flips and not fault_proxy_applies(target.kind, flips_signatures=True):
        not_applicable(
            f"backend {target.backend} ({target.kind}) sends its signatures encrypted and MACed "
            "(SCP03): a bit flipped on the wire breaks the session MAC, not the signature"
        )
    assert target.alg is not None
    handle = require_backend(kmsconform_backend_pool, target.backend)
    if kinds.dedicated(target.kind):
        handle = kmsconform_backend_pool.dedicated(target.backend, {"alg": target.alg.value})
    spec = spec_of(request.node) if isinstance(request.node, pytest.Item) else None
    label = short_label(spec.check_id if spec else "KC-REL-000", target, 1)
    backoff = BackoffRecorder() if isinstance(kmsconform_impl, VirtualBackoff) else None
    with contextlib.ExitStack() as stack:
        faulted = stack.enter_context(faulted_handle(handle, plan_from_dict({"rules": []})))
        if backoff is not None:
            assert isinstance(kmsconform_impl, VirtualBackoff)
            stack.enter_context(kmsconform_impl.virtual_backoff(backoff.sleep, backoff.clock))
        signer = kmsconform_impl.signer(faulted, target.alg, label=label)
        stack.callback(signer.close)
        log = kmsconform_impl.audit_log(signer, tmp_path / "audit")
        stack.callback(log.close)
        yield Rig(faulted.require_detail(FaultProxyDetails).fault_proxy, signer, log, target, backoff)


def assert_bounded(rig: Rig, outcome: Outcome) -> None:
    # with a recorded backoff, every sleep counts against the slowest append (an upper bound)
    slowest = max(outcome.seconds, default=0.0) + (rig.backoff.slept if rig.backoff is not None else 0.0)
    assert slowest < APPEND_BOUND_S, f"an append took {slowest:.1f}s under faults (retries not bounded in time)"
    sign_calls = sum(1 for e in rig.proxy.events if e.operation in SIGN_OPERATIONS)
    bound = CALLS_PER_APPEND_BOUND * max(1, len(outcome.seconds))
    assert sign_calls <= bound, f"{sign_calls} sign calls for {len(outcome.seconds)} appends (retries not bounded)"


def assert_backs_off(rig: Rig, retries: int) -> None:
    """Where the implementation hands the suite its backoff clock: ``retries`` retries each waited first."""
    if rig.backoff is None:
        return  # judged on survival and bounds, with its real sleeps
    sleeps = rig.backoff.sleeps
    assert len(sleeps) >= retries, f"{retries} retries after retryable faults, {len(sleeps)} backoff sleeps: {sleeps}"
    assert all(s > 0 for s in sleeps), f"a retry without backing off first (backoff sleeps {sleeps})"


def assert_injected(rig: Rig) -> None:
    assert rig.injected() > 0, (
        "the fault was never injected: the implementation did not call the backend's sign operation "
        "through the handle's URL"
    )


CHECK = pytest.mark.kmsconform_check


@CHECK(
    id="KC-REL-001",
    title="Through the fault proxy with no fault armed, appends are acknowledged and the log verifies",
    source="issue 10 (fault injection); seed 001 (audit flow)",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["BASIC"],
)
def test_no_fault_baseline(fault_rig: Rig) -> None:
    outcome = fault_rig.append_all()
    assert outcome.failures == [], f"appends failed with no fault armed: {outcome.failures!r}"
    assert fault_rig.problems(outcome) == []


@CHECK(
    id="KC-REL-002",
    title="Throttling (twice in a row) is survived with backoff: every append is acknowledged",
    source="issue 10; AWS KMS ThrottlingException, Vault 429, proxy 429",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["RESILIENCE"],
)
def test_throttling_is_survived(fault_rig: Rig) -> None:
    fault_rig.arm(sign_rule(fault="error", error="ThrottlingException", count=2))
    outcome = fault_rig.append_all()
    assert_injected(fault_rig)
    assert outcome.failures == [], f"throttling was not survived: {outcome.failures!r}"
    assert_backs_off(fault_rig, fault_rig.injected())
    assert_bounded(fault_rig, outcome)
    assert fault_rig.problems(outcome) == []


@CHECK(
    id="KC-REL-003",
    title="Backend internal errors never lose an acknowledged record nor commit an unsigned one",
    source="issue 10; AWS KMS KMSInternalException, Vault 500, proxy 500",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["RESILIENCE", "ATOMICITY"],
)
def test_internal_errors(fault_rig: Rig) -> None:
    fault_rig.arm(sign_rule(fault="error", error="KMSInternalException", probability=0.5, count=3))
    outcome = fault_rig.append_all()
    assert_injected(fault_rig)
    assert_bounded(fault_rig, outcome)
    assert fault_rig.problems(outcome) == []


@CHECK(
    id="KC-REL-004",
    title="A reply lost after the backend signed (connection reset) is not duplicated on retry",
    source="issue 10 (never duplicates one on retry)",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["RESILIENCE"],
)
def test_reset_after_execution(fault_rig: Rig) -> None:
    fault_rig.arm(sign_rule(fault="reset", phase="response", count=2))
    outcome = fault_rig.append_all()
    assert_injected(fault_rig)
    assert_bounded(fault_rig, outcome)
    assert fault_rig.problems(outcome) == []


@CHECK(
    id="KC-REL-005",
    title="A backend that stops answering (timeout) bounds the append in time and leaves the log sound",
    source="issue 10; AWS KMS DependencyTimeoutException",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["RESILIENCE"],
)
def test_timeout(fault_rig: Rig) -> None:
    # Held 20 ms, then closed unanswered: no client gives up that early, so each sees what it would
    # after a longer hold (the connection ends with no answer); 100 ms cost 7 s of every full run.
    fault_rig.arm(sign_rule(fault="timeout", ms=20, count=2))
    outcome = fault_rig.append_all()
    assert_injected(fault_rig)
    assert_bounded(fault_rig, outcome)
    assert fault_rig.problems(outcome) == []


@CHECK(
    id="KC-REL-006",
    title="Persistent throttling: the append raises within a bounded time and number of calls, nothing written",
    source="issue 10 (keeps retries bounded, surfaces a typed error)",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["RESILIENCE", "ATOMICITY"],
)
def test_persistent_throttling(fault_rig: Rig) -> None:
    before = len(list(fault_rig.log.records()))
    fault_rig.arm(sign_rule(fault="error", error="ThrottlingException"))
    start = time.monotonic()
    outcome = fault_rig.append_all(1)
    assert_injected(fault_rig)
    assert len(outcome.failures) == 1, (
        f"an append succeeded while every sign call was throttled ({time.monotonic() - start:.1f}s)"
    )
    assert_backs_off(fault_rig, fault_rig.injected() - 1)  # no sleep after the last attempt
    assert_bounded(fault_rig, outcome)
    assert fault_rig.problems(outcome) == []
    assert len(list(fault_rig.log.records())) == before, "a failed append left a record"


@CHECK(
    id="KC-REL-007",
    title="A corrupted signature from the backend (one bit flipped) is never committed",
    source="issue 10; seed 000 (verify before trust)",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    algs="asymmetric",
    flags=["RESILIENCE", "AUTH_BYPASS"],
)
def test_corrupt_signature_never_committed(fault_rig: Rig) -> None:
    fault_rig.arm(sign_rule(fault="corrupt_signature"))
    outcome = fault_rig.append_all(2)
    assert_injected(fault_rig)
    assert len(outcome.failures) == 2, "an append was acknowledged with a corrupted signature"
    assert fault_rig.problems(outcome) == []
    assert list(fault_rig.log.records()) == [], "a record with a corrupted signature was written"


@CHECK(
    id="KC-REL-008",
    title="With some signatures corrupted, every committed record still verifies and none is lost",
    source="issue 10",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    algs="asymmetric",
    flags=["RESILIENCE", "AUTH_BYPASS"],
)
def test_some_corrupt_signatures(fault_rig: Rig) -> None:
    fault_rig.arm(sign_rule(fault="corrupt_signature", probability=0.5))
    outcome = fault_rig.append_all()
    assert_injected(fault_rig)
    assert_bounded(fault_rig, outcome)
    assert fault_rig.problems(outcome) == []
