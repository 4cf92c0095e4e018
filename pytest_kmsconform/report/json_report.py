"""``report.json``: the run as one JSON document following ``report-schema.json``.

The schema ships inside the package (``report-schema.json`` beside this module) and is copied to
``docs/report-schema.json``; a test keeps the two identical. ``RunResult.from_json`` reads a
report back (it ignores the members only reports carry: ``report_format``, ``generator``,
``summary``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from pytest_kmsconform import __version__
from pytest_kmsconform.results import RunResult

from . import summary
from .errors import ReportFormatError

REPORT_FORMAT = 1
SCHEMA_ID = "urn:kmsconform:report-schema:1"


@cache
def schema() -> dict[str, Any]:
    """The report JSON Schema (draft 2020-12)."""
    text = resources.files(__package__).joinpath("report-schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def sort_key(check: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (check["suite"], check["check_id"], check["backend"], check["alg"], check["nodeid"])


def report_document(run: RunResult) -> dict[str, Any]:
    """The report as a JSON-safe dict; checks sorted so that two runs diff cleanly."""
    body = run.to_json()
    body["checks"] = sorted(body["checks"], key=sort_key)
    totals = summary.tally(run.checks)
    return {
        "report_format": REPORT_FORMAT,
        "generator": {"name": "pytest-kmsconform", "version": __version__},
        **body,
        "summary": {
            "applicable": totals.applicable,
            "passed": totals.passed,
            "verdict": summary.verdict(run),
            "badge": summary.badge(run),
        },
    }


def validate(document: Any) -> None:
    """Raise :class:`ReportFormatError` naming the first schema violation."""
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ReportFormatError(f"report does not follow the report schema at {where}: {error.message}")


def render(run: RunResult) -> str:
    return json.dumps(report_document(run), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write(run: RunResult, path: Path) -> Path:
    path.write_text(render(run), encoding="utf-8")
    return path


def load(path: Path) -> tuple[dict[str, Any], RunResult]:
    """Read and validate a ``report.json``; return the document and the run it describes."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportFormatError(f"cannot read report {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportFormatError(f"report {path} is not valid JSON: {exc}") from None
    validate(document)
    return document, RunResult.from_json(document)
