"""``kmsconform report``: re-render a saved report.json."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_kmsconform.cli import report as report_cli
from pytest_kmsconform.report import json_report, markdown
from pytest_kmsconform.results import BackendInfo, CheckResult, Outcome, RunResult


def _saved(tmp_path: Path) -> tuple[RunResult, Path]:
    run = RunResult(
        "1.0.0", "acme", "2", "2026-11-22T12:00:00Z", "2026-11-22T12:00:01Z",
        [BackendInfo("local", "in-process", "started")],
        [CheckResult("KC-SIG-001", "t", "seed 001", "signing", "local", "ed25519", Outcome.FAILED, "bad", 0.1, "n")],
    )  # fmt: skip
    return run, json_report.write(run, tmp_path / "report.json")


def _report(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser()
    report_cli.COMMAND.add_arguments(parser)
    return report_cli.COMMAND.run(parser.parse_args([str(a) for a in argv]))


def test_renders_every_format_from_a_saved_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, saved = _saved(tmp_path)
    assert _report(saved, "--out", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["junit.xml", "report.html", "report.md"]
    assert (tmp_path / "out" / "report.md").read_text(encoding="utf-8") == markdown.render(run)
    assert ET.parse(tmp_path / "out" / "junit.xml").getroot().get("failures") == "1"
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_one_format(tmp_path: Path) -> None:
    _, saved = _saved(tmp_path)
    assert _report(saved, "--out", tmp_path / "out", "--format", "html") == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.html"]


def test_bad_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report.json").write_text('{"checks": []}', encoding="utf-8")
    assert _report(tmp_path / "report.json", "--out", tmp_path / "out") == 2
    assert "report schema" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
