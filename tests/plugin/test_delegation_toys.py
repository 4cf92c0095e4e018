"""The delegation suite kills its mutants: the reference issuer and verifier pass every KC-DEL check,
and each verifier or issuer that forgets one rule fails exactly the checks about that rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_kmsconform.results import Outcome, RunResult

from .conftest import EXAMPLES, Capture

DEL = {f"KC-DEL-{n:03d}" for n in range(1, 12)}

BROKEN = {
    "PhonesHome": {"KC-DEL-001"},
    "Widens": {"KC-DEL-002"},
    "Outlives": {"KC-DEL-003"},
    "IgnoresExpiry": {"KC-DEL-004"},
    "IgnoresNotBefore": {"KC-DEL-005"},
    "IgnoresParentRef": {"KC-DEL-006"},
    "TrustsEmbeddedKey": {"KC-DEL-007"},
    "SkipsSignature": {"KC-DEL-008"},
    "TrustsAnyRoot": {"KC-DEL-009", "KC-DEL-011"},
    "IssuerNoChecks": {"KC-DEL-010"},
    "IssuerCachesKey": {"KC-DEL-011"},
}


@pytest.fixture
def run_delegation_toy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], RunResult]:
    pytester.syspathinsert(EXAMPLES)
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))
    name = "kmsconform_delegation_toys.py"
    (pytester.path / name).write_text((Path(EXAMPLES) / name).read_text())

    def run(toy: str) -> RunResult:
        capture = Capture()
        pytester.inline_run(
            "--kmsconform",
            f"--kmsconform-impl=kmsconform_delegation_toys:{toy}",
            "--kmsconform-backend=local",
            "-k",
            "test_delegation",
            "-p",
            "no:cacheprovider",
            plugins=[capture],
        )
        assert len(capture.runs) == 1
        return capture.runs[0]

    return run


def by_outcome(run: RunResult, outcome: Outcome) -> set[str]:
    return {c.check_id for c in run.checks if c.outcome is outcome}


def test_reference_passes_every_delegation_check(run_delegation_toy: Callable[[str], RunResult]) -> None:
    run = run_delegation_toy("DelegationCorrect")
    assert by_outcome(run, Outcome.PASSED) == DEL
    assert by_outcome(run, Outcome.FAILED) | by_outcome(run, Outcome.ERROR) == set()
    # both algorithms the toy declares run; the others are not applicable, with the reason
    assert {c.alg for c in run.checks if c.outcome is Outcome.PASSED} == {"ed25519", "ecdsa-p256-sha256"}
    assert all("not declared" in c.message for c in run.checks if c.outcome is Outcome.NOT_APPLICABLE)


@pytest.mark.parametrize("toy", sorted(BROKEN))
def test_delegation_mutant_fails_exactly(run_delegation_toy: Callable[[str], RunResult], toy: str) -> None:
    run = run_delegation_toy(toy)
    assert by_outcome(run, Outcome.FAILED) == BROKEN[toy]
    assert by_outcome(run, Outcome.ERROR) == set()
    assert by_outcome(run, Outcome.PASSED) == DEL - BROKEN[toy]


def test_every_delegation_check_kills_a_mutant() -> None:
    assert set().union(*BROKEN.values()) == DEL
