"""``kmsconform verify-cert certificate.json --key PUB [--report report.json]``: offline check of a
conformance certificate (signature, and that the report is the one certified).

Exit codes: 0 valid; 1 the signature does not verify (altered certificate or another key);
2 usage error (unreadable file, key is not an Ed25519 public key PEM); 3 the report does not
match the certificate's results digest; 4 the certificate is malformed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_kmsconform.report import certificate
from pytest_kmsconform.report.errors import CertificateInvalid, KeyFileError, VerifyFailure

EXIT_VALID = 0
EXIT_BAD_SIGNATURE = 1
EXIT_USAGE = 2
EXIT_REPORT_MISMATCH = 3
EXIT_MALFORMED = 4

_EXIT_OF = {
    VerifyFailure.BAD_SIGNATURE: EXIT_BAD_SIGNATURE,
    VerifyFailure.REPORT_MISMATCH: EXIT_REPORT_MISMATCH,
    VerifyFailure.MALFORMED: EXIT_MALFORMED,
}


class _Unusable(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _read_json(path: Path, what: str, code: int) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _Unusable(f"cannot read {what} {path}: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Unusable(f"{what} {path} is not valid JSON: {exc}", code) from None


def describe(claims: dict[str, Any]) -> list[str]:
    impl = claims.get("implementation", {})
    backends = ", ".join(f"{b.get('name')} ({b.get('version')})" for b in claims.get("backends", []))
    counts = claims.get("counts", {})
    na = claims.get("not_applicable", [])
    return [
        f"implementation: {impl.get('name')} {impl.get('version')}",
        f"suite version: {claims.get('suite_version')}; catalogue {claims.get('catalogue_digest')}",
        f"backends: {backends}",
        f"passed {counts.get('passed')}/{counts.get('applicable')} applicable; {len(na)} not applicable",
        f"results digest: {claims.get('results_digest')}",
        f"issued at: {claims.get('issued_at')}",
    ]


class VerifyCertCommand:
    help = "verify a conformance certificate offline (signature, and optionally that a report matches)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("certificate", type=Path, help="certificate.json written by 'kmsconform run --certify'")
        parser.add_argument("--key", type=Path, required=True, metavar="PUB", help="Ed25519 public key, PEM")
        parser.add_argument("--report", type=Path, default=None, help="report.json to check against the certificate")
        parser.add_argument("--json", action="store_true", help="print the verified statement as JSON")

    def run(self, args: argparse.Namespace) -> int:
        try:
            key = certificate.load_public_key(args.key)
            cert = _read_json(args.certificate, "certificate", EXIT_MALFORMED)
            report = None if args.report is None else _read_json(args.report, "report", EXIT_REPORT_MISMATCH)
            claims = certificate.verify(cert, key, report)
        except KeyFileError as exc:
            print(f"kmsconform verify-cert: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except _Unusable as exc:
            print(f"kmsconform verify-cert: {exc}", file=sys.stderr)
            return exc.code
        except CertificateInvalid as exc:
            print(f"kmsconform verify-cert: INVALID: {exc}", file=sys.stderr)
            return _EXIT_OF[exc.failure]
        if args.json:
            print(json.dumps(claims, indent=2))
        else:
            print(f"certificate OK: signed by key {certificate.key_id(key)}")
            for line in describe(claims):
                print(f"  {line}")
            if report is not None:
                print(f"  report {args.report} matches the results digest")
        return EXIT_VALID


COMMAND = VerifyCertCommand()
