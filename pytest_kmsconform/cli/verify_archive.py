"""``kmsconform verify-archive ARCHIVE --keys JWKS``: verify an audit archive offline.

Exit status: 0 when there is no finding, 1 when there is any, 2 on a usage error (unreadable
files, a bad key set). Makes no network call, except to read an ``s3://BUCKET/KEY`` archive
object (the archiver's; any S3-compatible endpoint by ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_kmsconform.reference_impl.errors import KmsConformError
from pytest_kmsconform.reference_impl.verifier import Finding, Verifier


def _hmac_secret(item: str) -> tuple[str, bytes]:
    kid, sep, path = item.partition("=")
    if not sep or not kid or not path:
        raise argparse.ArgumentTypeError(f"expected KID=FILE, got {item!r}")
    try:
        return kid, Path(path).read_bytes().strip()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None


def hmac_secret_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hmac-secret",
        action="append",
        default=[],
        type=_hmac_secret,
        metavar="KID=FILE",
        help="secret of an hmac-sha256 key (repeatable; HMAC keys are never in a JWKS)",
    )


def load_verifier(prog: str, keys: str, hmac_secrets: list[tuple[str, bytes]]) -> Verifier | None:
    """The verifier for a JWKS file, or ``None`` after saying on stderr why it cannot be built."""
    try:
        jwks: Any = json.loads(Path(keys).read_text())
    except OSError as exc:
        print(f"{prog}: cannot read {keys}: {exc.strerror}", file=sys.stderr)
        return None
    except ValueError as exc:
        print(f"{prog}: {keys} is not JSON: {exc}", file=sys.stderr)
        return None
    try:
        return Verifier(jwks, hmac_secrets=dict(hmac_secrets))
    except KmsConformError as exc:
        print(f"{prog}: bad key set {keys}: {exc}", file=sys.stderr)
        return None


class VerifyArchiveCommand:
    help = "verify an audit archive (kmsconform-audit-archive/1) against a JWKS, offline"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("archive", help="the archive file (JSON Lines), or s3://BUCKET/KEY")
        parser.add_argument("--keys", required=True, metavar="JWKS", help="the public key set (JSON file)")
        parser.add_argument("--workers", type=int, default=1, help="processes for signature checks (default 1)")
        hmac_secret_arg(parser)
        parser.add_argument("--json", action="store_true", help="print the findings as JSON")

    def run(self, args: argparse.Namespace) -> int:
        if args.workers < 1:
            print("kmsconform verify-archive: --workers must be >= 1", file=sys.stderr)
            return 2
        is_s3 = args.archive.startswith("s3://")
        if not is_s3 and not Path(args.archive).is_file():
            print(f"kmsconform verify-archive: no such file: {args.archive}", file=sys.stderr)
            return 2
        verifier = load_verifier("kmsconform verify-archive", args.keys, args.hmac_secret)
        if verifier is None:
            return 2
        try:
            if is_s3:
                findings = _verify_s3(verifier, args.archive, args.workers)
            else:
                findings = verifier.verify_archive(args.archive, workers=args.workers)
        except (KmsConformError, ValueError) as exc:  # an s3:// object that cannot be read
            print(f"kmsconform verify-archive: {exc}", file=sys.stderr)
            return 2
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


def _verify_s3(verifier: Verifier, uri: str, workers: int) -> list[Finding]:
    from pytest_kmsconform.reference_impl.audit.s3 import verify_s3_archive

    return verify_s3_archive(verifier, uri, workers=workers)


COMMAND = VerifyArchiveCommand()
