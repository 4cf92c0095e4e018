from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from pytest_kmsconform.report import json_report
from pytest_kmsconform.report.errors import ReportFormatError
from pytest_kmsconform.results import RunResult

DOCS_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "report-schema.json"


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_report.schema())


def test_docs_copy_of_schema_is_identical() -> None:
    assert json.loads(DOCS_SCHEMA.read_text(encoding="utf-8")) == json_report.schema()


@pytest.mark.parametrize("fixture", ["mixed_run", "passing_run"])
def test_report_validates_and_round_trips(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run: RunResult = request.getfixturevalue(fixture)
    path = json_report.write(run, tmp_path / "report.json")
    document, loaded = json_report.load(path)
    validator = jsonschema.Draft202012Validator(json_report.schema(), format_checker=jsonschema.FormatChecker())
    assert list(validator.iter_errors(document)) == []
    assert sorted(loaded.checks, key=lambda c: c.nodeid) == sorted(run.checks, key=lambda c: c.nodeid)
    assert loaded.backends == list(run.backends)
    assert document["counts"] == run.counts()


def test_summary_block(mixed_run: RunResult) -> None:
    document = json_report.report_document(mixed_run)
    assert document["summary"] == {
        "applicable": 5,
        "passed": 2,
        "verdict": "fail",
        "badge": "kmsconform: 2/5 (local)",
    }


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["checks"][0].__setitem__("outcome", "acceptable"), "checks/0/outcome"),
        (lambda d: d.pop("suite_version"), "(top level)"),
        (lambda d: d.__setitem__("started_at", "yesterday"), "started_at"),
        (lambda d: d["backends"][1].__setitem__("reason", ""), "backends/1/reason"),
        (lambda d: d["backends"][1].update(status="error", reason=""), "backends/1/reason"),
        (lambda d: d["backends"][0].__setitem__("status", "lost"), "backends/0/status"),
        (lambda d: d.__setitem__("unexpected", 1), "(top level)"),
    ],
)
def test_schema_rejects_bad_documents(mixed_run: RunResult, mutate, where: str) -> None:  # type: ignore[no-untyped-def]
    document = json_report.report_document(mixed_run)
    mutate(document)
    with pytest.raises(ReportFormatError, match=re.escape(f"at {where}:")):
        json_report.validate(document)


def test_load_reports_bad_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportFormatError, match="not valid JSON"):
        json_report.load(bad)
    with pytest.raises(ReportFormatError, match="cannot read"):
        json_report.load(tmp_path / "missing.json")
