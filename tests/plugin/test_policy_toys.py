"""The policy suite kills its mutants: the reference proxy's gate passes every KC-POL check over HTTP,
the same proxy with the gate switched off (monitor mode) fails them, and each gate that forgets one
rule fails exactly the checks about that rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_kmsconform.results import Outcome, RunResult

from .conftest import EXAMPLES, Capture

POL = {f"KC-POL-{n:03d}" for n in range(1, 16)}

BROKEN = {
    "AllowsUnlistedEndpoint": {"KC-POL-002", "KC-POL-013", "KC-POL-014"},
    "AdminTokenSigns": {"KC-POL-003"},
    "IgnoresPayloadTypes": {"KC-POL-004", "KC-POL-012"},
    "IgnoresRules": {"KC-POL-004", "KC-POL-012"},
    "IgnoresHashKeys": {"KC-POL-005", "KC-POL-012", "KC-POL-014"},
    "NoPerRequestCap": {"KC-POL-006", "KC-POL-012"},
    "NoDailyCap": {"KC-POL-007", "KC-POL-015"},
    "RateCountedAfterSigning": {"KC-POL-008"},
    "KillSwitchInMemory": {"KC-POL-009", "KC-POL-010"},
    "KillSwitchClearedAtStart": {"KC-POL-010"},
    "NoReplayCache": {"KC-POL-011", "KC-POL-012", "KC-POL-013", "KC-POL-014"},
    "SignsBeforePolicy": {"KC-POL-008", "KC-POL-009", "KC-POL-011", "KC-POL-012"},
    "DenialsNotLogged": POL - {"KC-POL-001", "KC-POL-010", "KC-POL-012", "KC-POL-014", "KC-POL-015"},
    "AcceptsNotLogged": {"KC-POL-013", "KC-POL-015"},
    "MetricsCountAcceptsOnly": {"KC-POL-014"},
    "CapsResetOnRestart": {"KC-POL-015"},
    "KillSwitchAlwaysOn": POL - {"KC-POL-003"},  # refusals of the auth gate come first
    # the gate switched off: only the harness check and authentication (still on in monitor mode) pass
    "GateOff": POL - {"KC-POL-001", "KC-POL-003"},
}


def failed(run: RunResult) -> set[str]:
    return {c.check_id for c in run.checks if c.outcome is Outcome.FAILED}


@pytest.fixture
def run_policy_toy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], RunResult]:
    pytester.syspathinsert(EXAMPLES)
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))
    name = "kmsconform_policy_toys.py"
    (pytester.path / name).write_text((Path(EXAMPLES) / name).read_text())

    def run(toy: str) -> RunResult:
        capture = Capture()
        pytester.inline_run(
            "--kmsconform",
            f"--kmsconform-impl=kmsconform_policy_toys:{toy}",
            "--kmsconform-backend=local",
            "-k",
            "test_policy",
            "-p",
            "no:cacheprovider",
            plugins=[capture],
        )
        assert len(capture.runs) == 1
        return capture.runs[0]

    return run


def test_reference_gate_passes_every_policy_check(run_policy_toy: Callable[[str], RunResult]) -> None:
    run = run_policy_toy("PolicyCorrect")
    passed = {c.check_id for c in run.checks if c.outcome is Outcome.PASSED}
    assert passed == POL, [(c.check_id, c.message) for c in run.checks if c.outcome is not Outcome.PASSED][:5]
    assert {c.alg for c in run.checks if c.outcome is Outcome.PASSED} == {"ed25519"}


@pytest.mark.parametrize("toy", sorted(BROKEN))
def test_policy_mutant_fails_exactly(run_policy_toy: Callable[[str], RunResult], toy: str) -> None:
    run = run_policy_toy(toy)
    assert failed(run) == BROKEN[toy]
    assert {c.check_id for c in run.checks if c.outcome is Outcome.ERROR} == set()
    assert {c.check_id for c in run.checks if c.outcome is Outcome.PASSED} == POL - BROKEN[toy]


def test_every_policy_check_kills_a_mutant() -> None:
    killed = set().union(*BROKEN.values())
    assert killed == POL
    for check_id in sorted(POL - {"KC-POL-001"}):
        assert any(check_id in ids and len(ids) < len(POL) - 2 for ids in BROKEN.values()), check_id
