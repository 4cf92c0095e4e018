"""``junit.xml``: JUnit XML that CI systems (GitHub, GitLab, Jenkins) show natively.

One ``<testsuite>`` per (backend, suite), one ``<testcase>`` per check instance with the check
metadata as ``<properties>`` (the layout pytest's own ``--junitxml`` uses for
``record_property``). Failed -> ``<failure>``, error -> ``<error>``, skipped and not applicable ->
``<skipped>`` with the reason. Characters XML 1.0 forbids are replaced by ``\\xNN`` escapes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pytest_kmsconform.results import CheckResult, Outcome, RunResult

from . import summary

clean = summary.printable


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _testcase(parent: ET.Element, check: CheckResult) -> None:
    name = check.check_id + (f"[{check.alg}]" if check.alg else "")
    case = ET.SubElement(
        parent,
        "testcase",
        classname=clean(f"kmsconform.{check.suite}.{check.backend or 'none'}"),
        name=clean(name),
        time=f"{check.duration_s:.3f}",
    )
    props = ET.SubElement(case, "properties")
    for key, value in (
        ("check_id", check.check_id),
        ("title", check.title),
        ("source", check.source),
        ("suite", check.suite),
        ("backend", check.backend),
        ("alg", check.alg),
        ("outcome", check.outcome.value),
        ("nodeid", check.nodeid),
    ):
        ET.SubElement(props, "property", name=key, value=clean(value))
    message = clean(check.message)
    if check.outcome is Outcome.FAILED:
        ET.SubElement(case, "failure", message=_first_line(message), type="kmsconform.failed").text = message
    elif check.outcome is Outcome.ERROR:
        ET.SubElement(case, "error", message=_first_line(message), type="kmsconform.error").text = message
    elif check.outcome is Outcome.NOT_APPLICABLE:
        ET.SubElement(case, "skipped", message=f"not applicable: {_first_line(message)}", type="kmsconform.na")
    elif check.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", message=f"skipped: {_first_line(message)}", type="kmsconform.skipped")


def build(run: RunResult) -> ET.Element:
    totals = summary.tally(run.checks)
    root = ET.Element(
        "testsuites",
        name="kmsconform",
        tests=str(totals.total),
        failures=str(totals.failed),
        errors=str(totals.error),
        skipped=str(totals.skipped + totals.not_applicable),
        time=f"{sum(c.duration_s for c in run.checks):.3f}",
    )
    groups: dict[tuple[str, str], list[CheckResult]] = {}
    for check in run.checks:
        groups.setdefault((check.backend, check.suite), []).append(check)
    for (backend, suite), checks in sorted(groups.items()):
        cell = summary.tally(checks)
        element = ET.SubElement(
            root,
            "testsuite",
            name=clean(f"{suite} on {backend or summary.NO_BACKEND}"),
            tests=str(cell.total),
            failures=str(cell.failed),
            errors=str(cell.error),
            skipped=str(cell.skipped + cell.not_applicable),
            time=f"{sum(c.duration_s for c in checks):.3f}",
            timestamp=clean(run.started_at),
        )
        props = ET.SubElement(element, "properties")
        for key, value in (
            ("implementation", f"{run.implementation} {run.implementation_version}".strip()),
            ("suite_version", run.suite_version),
            ("backend", backend),
        ):
            ET.SubElement(props, "property", name=key, value=clean(value))
        for check in sorted(checks, key=lambda c: (c.check_id, c.alg, c.nodeid)):
            _testcase(element, check)
    return root


def render(run: RunResult) -> str:
    root = build(run)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(run: RunResult, path: Path) -> Path:
    path.write_text(render(run), encoding="utf-8")
    return path
