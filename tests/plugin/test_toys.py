"""A correct toy implementation passes; each broken toy fails exactly the checks about its defect."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_kmsconform.results import Outcome, RunResult


def ids_with(run: RunResult, *outcomes: Outcome) -> set[str]:
    return {c.check_id for c in run.checks if c.outcome in outcomes}


Runner = Callable[..., tuple[pytest.HookRecorder, RunResult]]

BROKEN = {
    "IgnoresRevocation": {"KC-REV-001"},
    "AcceptsAnySignature": {
        "KC-SIG-007",
        "KC-SIG-008",
        "KC-SIG-009",
        "KC-SIG-010",
        "KC-SIG-013",
        "KC-SIG-014",
        "KC-SIG-015",
        "KC-ROT-006",
        "KC-REV-004",
        "KC-AUD-018",
        "KC-MS-005",
        "KC-MS-006",
    },
    "CommitsBeforeSigning": {"KC-AUD-002"},
    "RotationRaises": {f"KC-ROT-00{n}" for n in range(1, 7)} | {"KC-REV-005"},
    "MockInProduction": {"KC-GRD-001"},
    "LeaksHmacInJwks": {"KC-SIG-004"},
    "PhonesHome": {"KC-AIR-001", "KC-AIR-002"},
}


def test_correct_toy_passes(run_toy: Runner) -> None:
    _, run = run_toy("Correct")
    failed = [(c.check_id, c.nodeid, c.message) for c in run.checks if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    assert failed == []
    counts = run.counts()
    assert counts["passed"] > 100
    assert run.implementation == "toy"
    # rsa/ecdsa were not declared: not applicable with the reason, never passed
    na = [c for c in run.checks if c.outcome is Outcome.NOT_APPLICABLE]
    assert {c.alg for c in na} >= {"rsa-sha256", "rsa-pss-sha256", "ecdsa-p256-sha256"}
    assert all(c.alg != "ed25519" for c in na if c.suite == "signing" and "capability" not in c.message)
    assert {c.check_id for c in na if c.suite == "signing" and c.alg == "ed25519"} <= {"KC-SIG-017"}  # signing_events
    assert any("algorithm rsa-sha256 not declared" in c.message for c in na)
    # service process and verifier process were not declared either
    assert {c.check_id for c in na if "capability" in c.message} >= {"KC-GRD-002", "KC-AIR-003"}
    # the kms/proxy columns of the guard matrix need backends that were not selected: skipped, with why
    skipped = [c for c in run.checks if c.outcome is Outcome.SKIPPED]
    assert skipped and all("not selected" in c.message for c in skipped)
    assert all(c.check_id in ("KC-GRD-001", "KC-GRD-002") for c in skipped)


@pytest.mark.parametrize("toy", sorted(BROKEN))
def test_broken_toy_fails_exactly(run_toy: Runner, toy: str) -> None:
    rec, run = run_toy(toy)
    assert ids_with(run, Outcome.FAILED) == BROKEN[toy]
    assert ids_with(run, Outcome.ERROR) == set()
    outcomes = rec.countoutcomes()
    assert outcomes[2] == sum(1 for c in run.checks if c.outcome is Outcome.FAILED)


def test_broken_guard_fails_only_mock_rows(run_toy: Runner) -> None:
    from pytest_kmsconform.suites.test_guard import FULL_MATRIX, strict

    _, run = run_toy("MockInProduction", "-k", "guard_in_process")
    failed = sorted(c.nodeid.split("[")[1].rstrip("]") for c in run.checks if c.outcome is Outcome.FAILED)
    strict_mock = sorted(p.id for p in FULL_MATRIX if p.values[2] == "mock" and strict(p.values[0], p.values[1]))
    assert failed == strict_mock  # every spelling that turns strict mode on, and only those


ENVELOPE_ARGS = ("--kmsconform-backend=aws-kms", "-k", "envelope")
ENVELOPE_IDS = {f"KC-ENV-00{n}" for n in range(1, 9)}
ENVELOPE_BROKEN = {
    "ForgivingEnvelope": {"KC-ENV-004", "KC-ENV-005", "KC-ENV-006", "KC-ENV-007", "KC-ENV-008"},
    "PlaintextEnvelope": {"KC-ENV-003"},
}


def test_envelope_toy_passes(run_toy: Runner) -> None:
    _, run = run_toy("EnvelopeCorrect", *ENVELOPE_ARGS)
    assert ids_with(run, Outcome.FAILED, Outcome.ERROR) == set()
    assert ids_with(run, Outcome.PASSED) == ENVELOPE_IDS
    passed = {c.alg for c in run.checks if c.outcome is Outcome.PASSED}
    assert passed == {"ed25519"}  # the only asymmetric algorithm the toy declares
    na = [c for c in run.checks if c.outcome is Outcome.NOT_APPLICABLE]
    assert na and all("not declared" in c.message for c in na)


@pytest.mark.parametrize("toy", sorted(ENVELOPE_BROKEN))
def test_broken_envelope_toy_fails_exactly(run_toy: Runner, toy: str) -> None:
    _, run = run_toy(toy, *ENVELOPE_ARGS)
    assert ids_with(run, Outcome.FAILED) == ENVELOPE_BROKEN[toy]
    assert ids_with(run, Outcome.ERROR) == set()
    assert ids_with(run, Outcome.PASSED) == ENVELOPE_IDS - ENVELOPE_BROKEN[toy]


def test_envelope_checks_not_applicable_without_the_capability(run_toy: Runner) -> None:
    _, run = run_toy("Correct", *ENVELOPE_ARGS)
    rows = [c for c in run.checks if c.suite == "envelope"]
    assert {c.check_id for c in rows} == ENVELOPE_IDS
    assert all(c.outcome is Outcome.NOT_APPLICABLE for c in rows)
    assert all("capability envelope_persistence not declared" in c.message for c in rows)
