"""The check catalogue: ids unique, well formed, stable (never reused) and documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kmsconform.catalogue_doc import render
from pytest_kmsconform.checks import FLAGS, CheckDefinitionError, catalogue, catalogue_digest, spec_from_kwargs

ROOT = Path(__file__).resolve().parents[2]


def test_ids_unique_and_complete() -> None:
    specs = catalogue()
    ids = [s.check_id for s in specs]
    assert len(ids) == len(set(ids))
    assert {s.suite for s in specs} >= {"signing", "rotation", "revocation", "audit", "airgap", "guard", "multisig"}
    for spec in specs:
        assert spec.title and "\n" not in spec.title
        assert spec.source
        assert set(spec.flags) <= set(FLAGS)


def test_ids_are_stable() -> None:
    """Every id in use is in suites/ids.txt (append-only: retired ids stay, so none is reused)."""
    issued = (ROOT / "suites" / "ids.txt").read_text().split()
    assert len(issued) == len(set(issued)), "suites/ids.txt lists an id twice"
    missing = sorted({s.check_id for s in catalogue()} - set(issued))
    assert not missing, f"new ids must be appended to suites/ids.txt: {missing}"


def test_docs_checks_md_is_generated_and_current() -> None:
    committed = (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    assert committed == render(catalogue()), "run: python -m pytest_kmsconform.catalogue_doc docs/checks.md"


def test_digest_changes_with_a_title() -> None:
    specs = catalogue()
    changed = [specs[0].__class__(**{**specs[0].__dict__, "title": "other"}), *specs[1:]]
    assert catalogue_digest(specs) != catalogue_digest(changed)
    assert catalogue_digest(specs) == catalogue_digest(list(reversed(specs)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "KC-SIG-1", "title": "t", "source": "s"}, "is not KC-"),
        ({"id": "KC-XYZ-001", "title": "t", "source": "s"}, "is not KC-"),
        ({"id": "KC-SIG-001", "title": "", "source": "s"}, "one-line title"),
        ({"id": "KC-SIG-001", "title": "t", "source": ""}, "needs a source"),
        ({"id": "KC-SIG-001", "title": "t", "source": "s", "flags": ["NOPE"]}, "unknown flag"),
        ({"id": "KC-SIG-001", "title": "t", "source": "s", "requires": ["teleport"]}, "teleport"),
        ({"id": "KC-SIG-001", "title": "t", "source": "s", "scope": "galaxy"}, "scope"),
        ({"id": "KC-SIG-001", "title": "t", "source": "s", "colour": "red"}, "unknown kmsconform_check argument"),
    ],
)
def test_bad_marker_is_a_definition_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CheckDefinitionError, match=message):
        spec_from_kwargs(kwargs, "here")


def test_bad_marker_in_a_user_suite_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mine="""
        import pytest

        @pytest.mark.kmsconform_check(id="KC-SIG-901", title="mine", source="me", flags=["NOPE"])
        def test_x():
            pass
        """
    )
    result = pytester.runpytest_inprocess("--kmsconform", "--kmsconform-backend=local", "test_mine.py", "-k", "test_x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown flag*NOPE*"])
