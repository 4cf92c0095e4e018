"""A backend kind from outside the package: the toy distribution in ``tests/examples/toykind`` is
installed as a throw-away dist-info (entry point group ``pytest_kmsconform.backends``) and the
suites run on it; a broken entry point is a clear error naming its distribution."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_kmsconform import kinds
from pytest_kmsconform.report import json_report
from pytest_kmsconform.results import Outcome, RunResult

TOY = Path(__file__).resolve().parent.parent / "examples" / "toykind" / "kmsconform_toykind.py"
ENTRY_POINTS = "[pytest_kmsconform.backends]\ntoy-kms = kmsconform_toykind:KIND\n"


def install_toy(site: Path, entry_points: str = ENTRY_POINTS) -> Path:
    """What ``pip install`` of the toy distribution leaves on ``site``: the module and its dist-info."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(TOY, site / TOY.name)
    dist_info = site / "kmsconform_toykind-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: kmsconform-toykind\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    return site


def run_suites_on_toy(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> RunResult:
    """The bundled suites on backend ``toy-kms``, in a child pytest that has the toy installed."""
    monkeypatch.setenv("PYTHONPATH", str(install_toy(pytester.path / "site")))
    report = pytester.path / "report.json"
    pytester.runpytest_subprocess(
        "--kmsconform",
        "--kmsconform-backend=toy-kms",
        f"--kmsconform-report={report}",
        "--kmsconform-revocation-window=1",
        "-p",
        "no:cacheprovider",
        *args,
    )
    document = json.loads(report.read_text())
    json_report.validate(document)
    return RunResult.from_json(document)


def test_suites_run_on_a_kind_registered_by_entry_point(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_suites_on_toy(pytester, monkeypatch)
    on_toy = [c for c in run.checks if c.backend == "toy-kms"]
    bad = [(c.check_id, c.outcome.value, c.message) for c in run.checks if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    assert bad == []
    assert [(b.name, b.status) for b in run.backends] == [("toy-kms", "started")]
    passed = {c.check_id for c in on_toy if c.outcome is Outcome.PASSED}
    assert {"KC-SIG-001", "KC-ROT-001", "KC-REV-001", "KC-AUD-002"} <= passed
    # only the kind's one algorithm is generated; the fault proxy cannot stand in front of it
    assert {c.alg for c in on_toy} == {"ed25519"}
    rel = [c for c in on_toy if c.check_id.startswith("KC-REL-")]
    assert rel and all(c.outcome is Outcome.NOT_APPLICABLE and "not reached over HTTP" in c.message for c in rel)


def test_suites_catch_a_broken_third_party_backend(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_KMS_SIGNS_PREHASHED", "1")
    run = run_suites_on_toy(pytester, monkeypatch, "-k", "test_signing")
    failed = {c.check_id for c in run.checks if c.outcome is Outcome.FAILED and c.backend == "toy-kms"}
    assert "KC-SIG-001" in failed


@pytest.mark.parametrize(
    ("entry_point", "message"),
    [
        ("toy-kms = kmsconform_no_such_module:KIND", "cannot be loaded: ModuleNotFoundError"),
        ("toy-kms = kmsconform_toykind:PROVIDER", "gives a ToyProvider; it must name"),
        ("toy-kms = kmsconform_toykind:NO_SUCH_NAME", "cannot be loaded: AttributeError"),
    ],
)
def test_broken_entry_point_names_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_point: str, message: str
) -> None:
    monkeypatch.syspath_prepend(str(install_toy(tmp_path, f"[pytest_kmsconform.backends]\n{entry_point}\n")))
    registry = kinds._Registry()
    with pytest.raises(kinds.KindError) as raised:
        registry.kinds()
    text = str(raised.value)
    assert f"entry point {entry_point.replace(' = ', ' = ')}" in text
    assert "from kmsconform-toykind 0.1" in text and "group pytest_kmsconform.backends" in text
    assert message in text


def test_entry_point_adds_a_backend_to_a_kind_registered_by_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "kmsconform_toyextra.py").write_text(
        "from pytest_kmsconform.kinds import Backend\n"
        "BACKEND = Backend('toy-kms-remote', 'kmsconform_toykind:PROVIDER', kind='toy-kms')\n"
    )
    # the Backend entry point sorts before the kind's: it must still find the kind
    install_toy(tmp_path, ENTRY_POINTS + "a-remote = kmsconform_toyextra:BACKEND\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(extra))
    registry = kinds._Registry()
    table = {backend.name: kind for backend, kind in registry.backends()}
    assert table["toy-kms"] == table["toy-kms-remote"] == "toy-kms"
    assert registry.kind("toy-kms").distribution == "kmsconform-toykind"


def test_docs_show_the_tested_example() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "adapter.md").read_text()
    marker = "<!-- example: tests/examples/toykind/kmsconform_toykind.py -->\n```python\n"
    start = docs.index(marker) + len(marker)
    assert docs[start : docs.index("```\n", start)] == TOY.read_text()
