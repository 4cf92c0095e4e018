"""The mutation zoo: every target exists, the zoo covers every area, and the fast subset is killed.

The full run (every mutant, plus the unmodified reference on every configuration) is
``python -m pytest_kmsconform.mutation`` (``tox -e mutants``); figures in docs/verdict.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_kmsconform.mutation import Mutant, load_zoo
from pytest_kmsconform.mutation.__main__ import main
from pytest_kmsconform.mutation.core import MutantTargetError, resolve
from pytest_kmsconform.mutation.runner import RunResult, check_targets, judge, run_mutant

ZOO = Path(__file__).resolve().parent
MUTANTS = load_zoo(ZOO)
FAST = [m for m in MUTANTS if m.fast]
"""One or more per mechanism (in process, server threads, server process, inherited environment,
the injected service command) and per bug class of issue 13, plus the control."""
AREAS = {
    "adapters",
    "archive",
    "audit",
    "envelope",
    "guard",
    "keys",
    "ml_dsa",
    "multisig",
    "privilege",
    "reliability",
    "signing",
    "verifier",
}


def test_every_target_exists() -> None:
    assert check_targets(MUTANTS) == []


def test_the_zoo_covers_every_area_with_documented_mutants() -> None:
    counted = [m for m in MUTANTS if not m.control]
    assert len(counted) >= 40
    assert {m.module.removeprefix("zoo_") for m in counted} == AREAS
    assert [m.name for m in MUTANTS if m.control] == ["control_identity"]
    for m in counted:
        assert m.bug and m.violates, f"{m.name}: name the bug class and the seed or RFC it violates"
    impls = {m.impl.split(":")[0] for m in counted}
    assert {"reference", "http", "cmd"} <= impls, "mutants reach the HTTP and cmd: adapters too"
    assert any("signing-proxy" in m.backends for m in counted), "and the proxy's in-process server threads"


def test_a_target_that_does_not_exist_stops_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MutantTargetError, match="has no attribute 'moved_away'"):
        resolve("pytest_kmsconform.reference_impl.guard:moved_away")
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "zoo_moved.py").write_text(
        "from pytest_kmsconform.mutation import mutant\n\n"
        "@mutant('pytest_kmsconform.reference_impl.audit.chain:Gone.append', bug='b', violates='v')\n"
        "def moved_target(original):\n    return original\n"
    )
    try:
        assert main(["--zoo", str(zoo), "-k", "moved_target", "--no-baseline"]) == 2
    finally:
        sys.modules.pop("zoo_moved", None)
    assert "moved_target" in capsys.readouterr().err


def test_only_a_failed_check_kills() -> None:
    m = next(m for m in MUTANTS if not m.control)
    ran = {"passed": 3, "failed": 1}
    assert judge(m, RunResult(failed=["KC-SIG-001"], applied=["1 x"], counts=ran)).status == "killed"
    assert judge(m, RunResult(errors=["KC-SIG-001"], applied=["1 x"], counts=ran)).status == "error"
    assert judge(m, RunResult(broken="crashed", applied=["1 x"], counts=ran)).status == "error"
    assert judge(m, RunResult(failed=["KC-SIG-001"], counts=ran)).status == "error", "never applied: not a kill"
    assert judge(m, RunResult(applied=["1 x"], counts={"passed": 0})).status == "error", "nothing ran"
    assert judge(m, RunResult(applied=["1 x"], counts={"passed": 4})).status == "survived"


@pytest.mark.parametrize("m", FAST, ids=lambda m: m.name)
def test_fast_subset(m: Mutant, tmp_path: Path) -> None:
    verdict = run_mutant(m, ZOO, tmp_path)
    if m.control:
        assert verdict.status == "control-survived", verdict.run.failures or verdict.run.broken
        return
    assert verdict.status == "killed", verdict.run.broken or f"{m.name} survived: {m.bug}"
