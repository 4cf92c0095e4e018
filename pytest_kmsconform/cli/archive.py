"""``kmsconform archive DATABASE_URL --bucket B [--limit N]``: seed 001's archiver
(``AUDIT_ARCHIVE_BUCKET=... archiver --limit=1000``).

Each run writes the next run of up to ``N`` records not yet archived as one segment archive object
``s3://B/<prefix><first>-<last>.jsonl`` (zero-padded seqs), with its SHA-256 as the object checksum
and a checkpoint signed by the service's signer (chosen from the environment as the service
chooses it, seed 001; the production guard applies), under S3 Object Lock in compliance mode when
the bucket has it, never overwriting. The object is then entered in the store's archive index.
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) selects an S3-compatible endpoint, such as
moto's S3 behind ``kmsconform emulate aws-kms``.

Exit status: 0 archived (or nothing pending), 1 refused (a damaged chain, a key taken), 2 usage
error (no bucket, no signer, an unreadable database).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from pytest_kmsconform import __version__
from pytest_kmsconform.reference_impl.audit.archiver import ArchiveRefused, ArchiveRun, archive_next
from pytest_kmsconform.reference_impl.audit.database import open_database
from pytest_kmsconform.reference_impl.errors import AuditStoreError, ConfigurationError, KmsConformError
from pytest_kmsconform.reference_impl.signer import Signer

PROG = "kmsconform archive"
BUCKET_VARIABLE = "AUDIT_ARCHIVE_BUCKET"


class ArchiveCommand:
    help = "archive the next audit records to an S3 bucket as a signed, locked archive object (seed 001's archiver)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "database_url",
            nargs="?",
            default=None,
            metavar="DATABASE_URL",
            help="sqlite:///audit.db, a file path, or postgresql://... (default: $DATABASE_URL)",
        )
        parser.add_argument("--bucket", default=None, help=f"the S3 bucket (default: ${BUCKET_VARIABLE})")
        parser.add_argument("--limit", type=int, default=1000, metavar="N", help="records per object (default 1000)")
        parser.add_argument("--prefix", default="audit/", help="key prefix (default audit/)")
        parser.add_argument(
            "--retention-days",
            type=int,
            default=None,
            metavar="D",
            help="Object Lock retention (default: the bucket's default rule); ignored without Object Lock",
        )
        parser.add_argument(
            "--table", default="audit_records", help="PostgreSQL table of the store (default audit_records)"
        )
        parser.add_argument("--json", action="store_true", help="print what was archived as JSON")

    def run(self, args: argparse.Namespace) -> int:
        url = args.database_url or os.environ.get("DATABASE_URL")
        bucket = args.bucket or os.environ.get(BUCKET_VARIABLE)
        if not url:
            return _fail("give DATABASE_URL (argument or environment)")
        if not bucket:
            return _fail(f"give --bucket or set {BUCKET_VARIABLE}")
        if args.limit < 1:
            return _fail("--limit must be >= 1")
        if args.retention_days is not None and args.retention_days < 1:
            return _fail("--retention-days must be >= 1")
        try:
            signer = _service_signer()
        except ConfigurationError as exc:
            return _fail(f"no signer for the checkpoint: {exc}")
        try:
            from pytest_kmsconform.reference_impl.audit.s3 import S3ArchiveBucket

            sink = S3ArchiveBucket(bucket, retention_days=args.retention_days)
            with open_database(url, table=args.table, readonly=False) as db:
                run = archive_next(
                    db, sink, signer, limit=args.limit, producer=f"pytest-kmsconform {__version__}", prefix=args.prefix
                )
        except ConfigurationError as exc:
            return _fail(str(exc))
        except ArchiveRefused as exc:
            return _fail(str(exc), 1)
        except AuditStoreError as exc:
            return _fail(str(exc))
        except KmsConformError as exc:  # signing the checkpoint failed
            return _fail(str(exc), 1)
        finally:
            signer.close()
        _print(run, args.json)
        return 0


def _service_signer() -> Signer:
    from pytest_kmsconform.reference_impl.config import choose_signer
    from pytest_kmsconform.reference_impl.guard import start_service

    if choose_signer(os.environ) is None:
        raise ConfigurationError("no audit signer is configured (the variables of docs/spec.md section 9)")
    return start_service(os.environ)


def _print(run: ArchiveRun, as_json: bool) -> None:
    entry = run.entry
    if as_json:
        doc = {
            "archived": entry is not None,
            "uri": None if entry is None else entry.uri,
            "first_seq": None if entry is None else entry.first_seq,
            "last_seq": None if entry is None else entry.last_seq,
            "sha256": None if entry is None else entry.object_sha256,
            "version_id": None if entry is None else entry.version_id,
            "adopted": run.adopted,
            "pending": run.pending_after,
        }
        print(json.dumps(doc, indent=2))
        return
    if entry is None:
        print("nothing to archive: every record is archived")
        return
    how = "adopted (already stored by an earlier run)" if run.adopted else "archived"
    print(f"{how} seq {entry.first_seq}..{entry.last_seq} to {entry.uri} (sha256 {entry.object_sha256})")
    if run.pending_after:
        print(f"{run.pending_after} record(s) still pending: run it again")


def _fail(message: str, status: int = 2) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


COMMAND = ArchiveCommand()
