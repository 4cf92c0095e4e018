"""``kmsconform report report.json --out DIR``: render a saved ``report.json`` (e.g. from
``pytest --kmsconform --kmsconform-report=report.json``) as ``report.md``, ``report.html`` and
``junit.xml``. Exit codes: 0 written; 2 the report cannot be read or breaks the schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_kmsconform.report import FORMATS, json_report, write_reports
from pytest_kmsconform.report.errors import ReportFormatError

RENDERED = [name for name in FORMATS if name != "json"]


class ReportCommand:
    help = "render a saved report.json as report.md, report.html and junit.xml"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("report", type=Path, help="a report.json (see docs/report-schema.json)")
        parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write into")
        parser.add_argument(
            "--format",
            action="append",
            choices=RENDERED,
            default=None,
            help=f"format to write (repeatable; default: {', '.join(RENDERED)})",
        )

    def run(self, args: argparse.Namespace) -> int:
        try:
            _, run = json_report.load(args.report)
        except ReportFormatError as exc:
            print(f"kmsconform report: {exc}", file=sys.stderr)
            return 2
        written = write_reports(run, args.out, formats=args.format or RENDERED)
        for path in written.values():
            print(path)
        return 0


COMMAND = ReportCommand()
