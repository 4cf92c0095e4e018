"""``kmsconform verify-db DATABASE_URL --keys JWKS [--limit N] [--from SEQ]``: verify the audit
chain straight from the store (seed 001: ``DATABASE_URL=... verifyTool --limit=100``).

The same finding codes, output and exit status as ``verify-archive``: 0 when there is no finding,
1 when there is any, 2 on a usage error (bad URL, unreadable key set, ``--from`` past the head).
``DATABASE_URL`` may also come from the environment variable of that name.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pytest_kmsconform.reference_impl.audit.database import open_database
from pytest_kmsconform.reference_impl.audit.dbverify import DbVerification, verify_database
from pytest_kmsconform.reference_impl.errors import AuditStoreError, KmsConformError

from .verify_archive import hmac_secret_arg, load_verifier

PROG = "kmsconform verify-db"


class VerifyDbCommand:
    help = "verify the audit chain in a SQLite or PostgreSQL store against a JWKS (seed 001's verifyTool)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "database_url",
            nargs="?",
            default=None,
            metavar="DATABASE_URL",
            help="sqlite:///audit.db, a file path, or postgresql://... (default: $DATABASE_URL)",
        )
        parser.add_argument("--keys", required=True, metavar="JWKS", help="the public key set (JSON file)")
        parser.add_argument("--limit", type=int, default=None, metavar="N", help="verify the newest N rows only")
        parser.add_argument(
            "--from", dest="from_seq", type=int, default=None, metavar="SEQ", help="verify from this seq on"
        )
        parser.add_argument(
            "--table", default="audit_records", help="PostgreSQL table of the store (default audit_records)"
        )
        hmac_secret_arg(parser)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def run(self, args: argparse.Namespace) -> int:
        url = args.database_url or os.environ.get("DATABASE_URL")
        if not url:
            print(f"{PROG}: give DATABASE_URL (argument or environment)", file=sys.stderr)
            return 2
        verifier = load_verifier(PROG, args.keys, args.hmac_secret)
        if verifier is None:
            return 2
        try:
            with open_database(url, table=args.table) as db:
                result = verify_database(db, verifier, limit=args.limit, from_seq=args.from_seq)
        except (AuditStoreError, ValueError) as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        except KmsConformError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        _print(result, args.json)
        return 1 if result.findings else 0


def _scope(r: DbVerification) -> str:
    if r.first_seq is None:
        return "no rows"
    text = f"rows {r.first_seq}..{r.last_seq} ({r.rows})"
    if r.anchor is not None:
        text += f", anchored to the checkpoint of {r.anchor.uri} (seq {r.anchor.last_seq})"
    elif r.first_seq == 0:
        text += ", from genesis"
    if r.extended:
        text += f"; extended below seq {r.requested_first} to reach " + (
            "its anchor" if r.anchor is not None else "genesis (no archive checkpoint before it)"
        )
    return text


def _print(result: DbVerification, as_json: bool) -> None:
    if as_json:
        doc: dict[str, Any] = {
            "ok": not result.findings,
            "head_seq": result.head_seq,
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
            "rows": result.rows,
            "anchor": None if result.anchor is None else result.anchor.uri,
            "checkpoints": result.checkpoints,
            "findings": [f.to_json() for f in result.findings],
        }
        print(json.dumps(doc, indent=2))
        return
    for f in result.findings:
        where = "database" if f.index is None else f"seq {f.index}"
        print(f"{f.code.value} at {where}: {f.message}")
    verdict = "OK, no findings" if not result.findings else f"{len(result.findings)} finding(s)"
    print(f"verified {_scope(result)}; {result.checkpoints} archive checkpoint(s): {verdict}")


COMMAND = VerifyDbCommand()
