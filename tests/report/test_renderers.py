"""Markdown, HTML and JUnit renderers on the synthetic run with every outcome."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_kmsconform.report import UnknownFormat, html_report, junit, markdown, write_reports
from pytest_kmsconform.results import RunResult


def test_markdown_has_badge_table_and_failures_first(mixed_run: RunResult) -> None:
    text = markdown.render(mixed_run)
    lines = text.splitlines()
    assert "kmsconform: 2/5 (local)" in lines
    assert "| local | signing | 1 | 1 | 0 | 1 | 0 |" in lines
    assert "| (none) | guard | 1 | 0 | 0 | 0 | 0 |" in lines
    assert text.index("### failed: KC-SIG-002") < text.index("### error: KC-ROT-001")
    assert text.index("## Failures and errors") < text.index("## Skipped and not applicable")
    assert "| KC-SIG-001 | yubihsm | ed25519 | skipped | yubihsm extra missing |" in lines


def test_markdown_keeps_hostile_text_inert(mixed_run: RunResult) -> None:
    text = markdown.render(mixed_run)
    # the message sits in a fence longer than its own ``` run, so it cannot close it early
    assert "````text" in text
    outside_fences = re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", text)
    assert "<script>" not in outside_fences


def test_markdown_escapes_table_cells() -> None:
    assert markdown.inline("a | b <i>\nc") == r"a \| b \<i\> c"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "data")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escaped(mixed_run: RunResult) -> None:
    page = html_report.render(mixed_run)
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert parsed.urls == []
    assert not re.search(r"(?i)(src|href)\s*=\s*[\"']?\s*(https?:)?//", page)
    assert "url(" not in page and "@import" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert '<script>alert("x")</script>' in "".join(parsed.text)  # shown as text


def test_html_lists_every_check_failures_first(mixed_run: RunResult) -> None:
    page = html_report.render(mixed_run)
    rows = re.findall(r'<tr class="(\w+)"><td title="[^"]*"><code>([^<]+)</code>', page)
    assert [r[0] for r in rows] == ["failed", "error", "skipped", "not_applicable", "passed", "passed"]
    assert len(rows) == len(mixed_run.checks)
    assert "seed 001" in page and "0.250" in page and "title of KC-SIG-002" in page


def test_junit_parses_with_properties_per_testcase(mixed_run: RunResult) -> None:
    root = ET.fromstring(junit.render(mixed_run).encode("utf-8"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "1", "1", "2")
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 6
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.findall("./properties/property")}
        assert props["check_id"] and props["outcome"] and props["nodeid"]
    by_outcome = {
        {p.get("name"): p.get("value") for p in c.findall("./properties/property")}["outcome"]: c for c in cases
    }
    assert by_outcome["failed"].find("failure") is not None
    assert by_outcome["error"].find("error") is not None
    skipped = by_outcome["not_applicable"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not applicable: hmac not declared"
    assert by_outcome["passed"].find("failure") is None and by_outcome["passed"].find("skipped") is None
    failure = by_outcome["failed"].find("failure")
    assert failure is not None and failure.text is not None
    assert "<script>" in failure.text and "\\x00" in failure.text and "\\x1b" in failure.text


def test_write_reports_writes_every_format(mixed_run: RunResult, tmp_path: Path) -> None:
    written = write_reports(mixed_run, tmp_path / "out")
    assert {k: p.name for k, p in written.items()} == {
        "json": "report.json",
        "md": "report.md",
        "html": "report.html",
        "junit": "junit.xml",
    }
    assert all(p.stat().st_size > 0 for p in written.values())
    only = write_reports(mixed_run, tmp_path / "only", formats=["md"])
    assert list(only) == ["md"] and sorted(p.name for p in (tmp_path / "only").iterdir()) == ["report.md"]


def test_write_reports_rejects_unknown_format_before_writing(mixed_run: RunResult, tmp_path: Path) -> None:
    with pytest.raises(UnknownFormat, match="pdf"):
        write_reports(mixed_run, tmp_path / "out", formats=["json", "pdf"])
    assert not (tmp_path / "out").exists()


def test_no_format_carries_raw_control_characters(mixed_run: RunResult) -> None:
    for text in (markdown.render(mixed_run), html_report.render(mixed_run), junit.render(mixed_run)):
        assert "\x00" not in text and "\x1b" not in text
        assert "\\x00" in text and "\\x1b" in text
