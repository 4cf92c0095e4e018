"""``kmsconform verify-archive ARCHIVE --keys JWKS``: verify an audit archive offline.

Exit status: 0 when there is no finding, 1 when there is any, 2 on a usage error (unreadable
files, a bad key set). Makes no network call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_kmsconform.reference_impl.errors import KmsConformError
from pytest_kmsconform.reference_impl.verifier import Verifier


def _hmac_secret(item: str) -> tuple[str, bytes]:
    kid, sep, path = item.partition("=")
    if not sep or not kid or not path:
        raise argparse.ArgumentTypeError(f"expected KID=FILE, got {item!r}")
    try:
        return kid, Path(path).read_bytes().strip()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None


class VerifyArchiveCommand:
    help = "verify an audit archive (kmsconform-audit-archive/1) against a JWKS, offline"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("archive", help="the archive file (JSON Lines)")
        parser.add_argument("--keys", required=True, metavar="JWKS", help="the public key set (JSON file)")
        parser.add_argument("--workers", type=int, default=1, help="processes for signature checks (default 1)")
        parser.add_argument(
            "--hmac-secret",
            action="append",
            default=[],
            type=_hmac_secret,
            metavar="KID=FILE",
            help="secret of an hmac-sha256 key (repeatable; HMAC keys are never in a JWKS)",
        )
        parser.add_argument("--json", action="store_true", help="print the findings as JSON")

    def run(self, args: argparse.Namespace) -> int:
        if args.workers < 1:
            print("kmsconform verify-archive: --workers must be >= 1", file=sys.stderr)
            return 2
        try:
            jwks: Any = json.loads(Path(args.keys).read_text())
        except OSError as exc:
            print(f"kmsconform verify-archive: cannot read {args.keys}: {exc.strerror}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"kmsconform verify-archive: {args.keys} is not JSON: {exc}", file=sys.stderr)
            return 2
        if not Path(args.archive).is_file():
            print(f"kmsconform verify-archive: no such file: {args.archive}", file=sys.stderr)
            return 2
        try:
            verifier = Verifier(jwks, hmac_secrets=dict(args.hmac_secret))
        except KmsConformError as exc:
            print(f"kmsconform verify-archive: bad key set {args.keys}: {exc}", file=sys.stderr)
            return 2
        try:
            findings = verifier.verify_archive(args.archive, workers=args.workers)
        except OSError as exc:
            print(f"kmsconform verify-archive: cannot read {args.archive}: {exc.strerror}", file=sys.stderr)
            return 2
        if args.json:
            report = {"archive": args.archive, "ok": not findings, "findings": [f.to_json() for f in findings]}
            print(json.dumps(report, indent=2))
        else:
            for f in findings:
                where = "archive" if f.index is None else f"record {f.index}"
                print(f"{f.code.value} at {where}: {f.message}")
            print(f"{args.archive}: " + ("OK, no findings" if not findings else f"{len(findings)} finding(s)"))
        return 1 if findings else 0


COMMAND = VerifyArchiveCommand()
