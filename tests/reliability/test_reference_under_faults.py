"""The reference implementation under every fault: in process (FaultyKeyBackend) on the local and
aws-kms backends, and over the HTTP fault proxy on aws-kms and the signing proxy.

Under each fault the audit log never commits a record without a valid signature, never loses an
acknowledged one, never duplicates one on retry; retries are bounded; failures are typed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.emulators.aws_kms.provider import AwsKmsDetails
from pytest_kmsconform.emulators.faults import FaultyKeyBackend, plan_from_dict
from pytest_kmsconform.emulators.faults.handles import FaultProxyDetails, faulted_handle
from pytest_kmsconform.emulators.faults.invariants import audit_problems, drive
from pytest_kmsconform.emulators.faults.plan import FaultPlan
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.errors import BackendError, SigningFailed
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.retry import (
    Retrier,
    RetriesExhausted,
    RetryingKeyBackend,
    RetryingSigner,
    RetryPolicy,
)
from pytest_kmsconform.reference_impl.signer import KeyBackend, Signer

from pytest_kmsconform.key_backends import key_backend_for

POLICY = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.01, deadline_s=20.0)
APPENDS = 12

# name -> (rules, expectation): "ok" all appends acknowledged; "fail" every append fails typed;
# "mixed" some may fail, all typed.
SCENARIOS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "throttle-twice": ([{"operation": "Sign", "fault": "error", "error": "ThrottlingException", "count": 2}], "ok"),
    "throttle-always": ([{"operation": "Sign", "fault": "error", "error": "ThrottlingException"}], "fail"),
    "internal-30pct": (
        [{"operation": "Sign", "fault": "error", "error": "KMSInternalException", "probability": 0.3}],
        "mixed",
    ),
    "unavailable-30pct": (
        [{"operation": "Sign", "fault": "error", "error": "DependencyTimeoutException", "probability": 0.3}],
        "mixed",
    ),
    "reset-request": ([{"operation": "Sign", "fault": "reset", "probability": 0.3}], "mixed"),
    "reset-response": ([{"operation": "Sign", "fault": "reset", "phase": "response", "probability": 0.3}], "mixed"),
    "timeout": ([{"operation": "Sign", "fault": "timeout", "ms": 50, "count": 3}], "mixed"),
    "latency": ([{"operation": "*", "fault": "latency", "ms": 5, "jitter_ms": 5}], "ok"),
    "corrupt-always": ([{"operation": "Sign", "fault": "corrupt_signature"}], "fail"),
    "corrupt-30pct": ([{"operation": "Sign", "fault": "corrupt_signature", "probability": 0.3}], "mixed"),
}


def make_plan(name: str) -> FaultPlan:
    rules = [dict(r) for r in SCENARIOS[name][0]]
    for r in rules:  # the same plan names KMS and proxy operations
        ops = r["operation"]
        r["operation"] = ops if ops == "*" else [ops, "sign", "/sign/hash"]
    return plan_from_dict({"seed": 11, "rules": rules})


def retrier() -> Retrier:
    return Retrier(POLICY, rng=random.Random(5))


def check(
    store: SqliteAuditStore,
    signer: Signer,
    plan: FaultPlan,
    scenario: str,
    *,
    calls_per_attempt: int,
    appends: int = APPENDS,
) -> None:
    outcome = drive(store.append, appends, scenario)
    expectation = SCENARIOS[scenario][1]
    assert outcome.untyped() == [], f"untyped failures: {outcome.untyped()!r}"
    if expectation == "ok":
        assert outcome.failures == []
    if expectation == "fail":
        assert len(outcome.failures) == appends and store.count() == 0
        if scenario.startswith("corrupt"):
            assert all(isinstance(e, SigningFailed) for e in outcome.failures)
        else:
            assert all(isinstance(e, RetriesExhausted | BackendError) for e in outcome.failures)
    if scenario != "latency":
        assert plan.fired() > 0, "the plan never injected a fault: the test would prove nothing"
    records = [r.to_json() for r in store.records()]
    assert len(records) == len(outcome.acked) == store.count()
    assert audit_problems(records, outcome.acked, signer.verify_signature) == []
    sign_calls = plan.stats()[0]["seen"]
    assert sign_calls <= appends * POLICY.max_attempts * calls_per_attempt, "retries not bounded"
    assert max(outcome.seconds) < POLICY.deadline_s + 30, "an append outlived the retry deadline"


def ring_signer(backend: KeyBackend, alg: Algorithm) -> RingSigner:
    ring = KeyRing(backend, alg, "rel")
    ring.rotate()
    return RingSigner(ring)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("alg", [Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256])
def test_local_in_process(tmp_path: Path, scenario: str, alg: Algorithm) -> None:
    plan = make_plan(scenario)
    backend = RetryingKeyBackend(
        FaultyKeyBackend(LocalKeyBackend(seed=b"r"), plan, kind="aws-kms", sleep=lambda s: None), retrier()
    )
    signer = ring_signer(backend, alg)
    with SqliteAuditStore(tmp_path / "a.db", signer) as store:
        check(store, signer, plan, scenario, calls_per_attempt=1)


@pytest.fixture(scope="module")
def kms_handle() -> Iterator[Any]:
    pytest.importorskip("moto.server", reason="aws extra not installed")
    from pytest_kmsconform.emulators.aws_kms.provider import PROVIDER

    with PROVIDER.start(namespace="rel") as handle:
        yield handle


KMS_SCENARIOS = [
    "corrupt-always",
    "corrupt-30pct",
    "internal-30pct",
    "reset-response",
    "throttle-always",
    "throttle-twice",
]


@pytest.mark.parametrize("scenario", KMS_SCENARIOS)
def test_aws_kms_in_process_hook(tmp_path: Path, kms_handle: Any, scenario: str) -> None:
    plan = make_plan(scenario)
    inner = key_backend_for(kms_handle)
    backend = RetryingKeyBackend(FaultyKeyBackend(inner, plan, sleep=lambda s: None), retrier())
    signer = ring_signer(backend, Algorithm.ECDSA_P256_SHA256)
    with SqliteAuditStore(tmp_path / "a.db", signer) as store:
        check(store, signer, plan, scenario, calls_per_attempt=1)


@pytest.mark.parametrize("scenario", [*KMS_SCENARIOS, "reset-request", "timeout"])
def test_aws_kms_over_the_fault_proxy(tmp_path: Path, kms_handle: Any, scenario: str) -> None:
    plan = make_plan(scenario)
    with faulted_handle(kms_handle, plan) as faulted:
        assert faulted.url != kms_handle.url and faulted.require_detail(AwsKmsDetails).client_factory is None
        backend = RetryingKeyBackend(key_backend_for(faulted), retrier())
        signer = ring_signer(backend, Algorithm.ED25519)
        with SqliteAuditStore(tmp_path / "a.db", signer) as store:
            # botocore retries throttling and 5xx itself (up to 5 calls per attempt, with its own
            # backoff), so a permanently throttled append takes ~20 s: one append is enough.
            appends = 1 if scenario == "throttle-always" else APPENDS
            check(store, signer, plan, scenario, calls_per_attempt=5, appends=appends)
        assert any(e.operation == "Sign" for e in faulted.require_detail(FaultProxyDetails).fault_proxy.events)


@contextmanager
def proxy_handle(alg: str) -> Iterator[Any]:
    from pytest_kmsconform.emulators.signing_proxy.provider import PROVIDER

    with PROVIDER.start(namespace="rel", options={"backend": "local", "alg": alg}) as handle:
        yield handle


@pytest.mark.parametrize(
    "scenario", ["corrupt-always", "corrupt-30pct", "internal-30pct", "reset-response", "throttle-twice", "timeout"]
)
def test_signing_proxy_over_the_fault_proxy(tmp_path: Path, scenario: str) -> None:
    from pytest_kmsconform.reference_impl.backends.signing_proxy import signer_from_env

    plan = make_plan(scenario)
    with ExitStack() as stack:
        handle = stack.enter_context(proxy_handle("ed25519"))
        faulted = stack.enter_context(faulted_handle(handle, plan))
        signer = RetryingSigner(signer_from_env(faulted.env), retrier())
        store = stack.enter_context(SqliteAuditStore(tmp_path / "a.db", signer))
        check(store, signer, plan, scenario, calls_per_attempt=1)


def test_hmac_corruption_is_not_caught_by_the_ring_signer(tmp_path: Path) -> None:
    """Documents the known gap: an HMAC tag has no public key to check it against before commit."""
    plan = make_plan("corrupt-always")
    backend = FaultyKeyBackend(LocalKeyBackend(seed=b"h"), plan, kind="aws-kms")
    signer = ring_signer(backend, Algorithm.HMAC_SHA256)
    with SqliteAuditStore(tmp_path / "a.db", signer) as store:
        store.append({"n": 1})
        rec = next(store.records())
        problems = audit_problems([rec.to_json()], [], signer.verify_signature)
    assert problems == ["record 0: signature does not verify (InvalidSignature)"]
