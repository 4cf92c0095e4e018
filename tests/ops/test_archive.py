"""``kmsconform archive`` to moto's S3 and ``verify-archive s3://``: segment objects with their
SHA-256 and signed checkpoints, Object Lock in compliance mode, never an overwrite."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.audit.database import open_database

from pytest_kmsconform.cli import main

from .conftest import Database, ServiceKey

pytest.importorskip("boto3", reason="boto3 is not installed (extra 'aws')")


def fill(database: Database, key: ServiceKey, n: int) -> None:
    with database.open_store(key.signer) as store:
        for i in range(n):
            store.append({"type": "approval", "n": i})


def run_archive(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["archive", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_archive_in_segments_then_verify_them_back(
    database: Database, service_key: ServiceKey, s3_env: Any, make_bucket: Any, s3_client: Any, capsys: Any
) -> None:
    fill(database, service_key, 25)
    bucket = make_bucket(lock_days=1)
    code, first = run_archive(capsys, database.url, "--bucket", bucket, "--limit", "10")
    assert code == 0 and (first["first_seq"], first["last_seq"], first["pending"]) == (0, 9, 15)
    for _ in range(2):
        assert run_archive(capsys, database.url, "--bucket", bucket, "--limit", "10")[0] == 0
    code, done = run_archive(capsys, database.url, "--bucket", bucket, "--limit", "10")
    assert code == 0 and done["archived"] is False
    assert keys(s3_client, bucket) == [
        "audit/00000000000000000000-00000000000000000009.jsonl",
        "audit/00000000000000000010-00000000000000000019.jsonl",
        "audit/00000000000000000020-00000000000000000024.jsonl",
    ]
    head = s3_client.head_object(Bucket=bucket, Key=keys(s3_client, bucket)[0], ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(hours=23)
    assert head["Metadata"]["kmsconform-sha256"] == first["sha256"]
    assert head["ChecksumSHA256"]  # S3 holds the object's SHA-256 and checks it on upload
    for key in keys(s3_client, bucket):
        assert main(["verify-archive", f"s3://{bucket}/{key}", "--keys", str(service_key.jwks)]) == 0
    assert main(["verify-db", database.url, "--keys", str(service_key.jwks), "--limit", "3"]) == 0
    assert "anchored to the checkpoint of s3://" in capsys.readouterr().out


def test_locked_objects_are_never_deleted_or_overwritten(
    database: Database, service_key: ServiceKey, s3_env: Any, make_bucket: Any, s3_client: Any, capsys: Any
) -> None:
    from botocore.exceptions import ClientError
    from pytest_kmsconform.reference_impl.audit.archiver import ObjectExists
    from pytest_kmsconform.reference_impl.audit.s3 import S3ArchiveBucket

    fill(database, service_key, 3)
    bucket = make_bucket(lock_days=1)
    assert run_archive(capsys, database.url, "--bucket", bucket)[0] == 0
    key = keys(s3_client, bucket)[0]
    version = s3_client.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3_client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    sink = S3ArchiveBucket(bucket, client=s3_client)
    with pytest.raises(ObjectExists):
        sink.put_new(key, _body(b"other"), size=5, sha256=_sha(b"other"), metadata={})


def test_retention_days_and_unlocked_buckets(
    database: Database, service_key: ServiceKey, s3_env: Any, make_bucket: Any, s3_client: Any, capsys: Any
) -> None:
    fill(database, service_key, 2)
    bucket = make_bucket(lock_days=1)
    assert run_archive(capsys, database.url, "--bucket", bucket, "--retention-days", "30")[0] == 0
    head = s3_client.head_object(Bucket=bucket, Key=keys(s3_client, bucket)[0])
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=29)
    database.execute(f"DELETE FROM {_archives(database)}")  # the index is the store's: start over elsewhere
    plain = make_bucket(lock_days=None)
    assert run_archive(capsys, database.url, "--bucket", plain)[0] == 0
    assert "ObjectLockMode" not in s3_client.head_object(Bucket=plain, Key=keys(s3_client, plain)[0])
    database.execute(f"DELETE FROM {_archives(database)}")
    no_default = make_bucket(lock_days=None, lock_without_default=True)
    assert main(["archive", database.url, "--bucket", no_default]) == 2
    assert "no default retention: pass --retention-days" in capsys.readouterr().err


def test_bucket_from_the_seed_variable_and_usage_errors(
    database: Database,
    service_key: ServiceKey,
    s3_env: Any,
    make_bucket: Any,
    s3_client: Any,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(database, service_key, 2)
    bucket = make_bucket(lock_days=1)
    monkeypatch.setenv("AUDIT_ARCHIVE_BUCKET", bucket)
    monkeypatch.setenv("DATABASE_URL", database.url)
    assert main(["archive", "--limit", "1000"]) == 0
    assert len(keys(s3_client, bucket)) == 1
    monkeypatch.delenv("AUDIT_ARCHIVE_BUCKET")
    assert main(["archive"]) == 2
    monkeypatch.delenv("AUDIT_SIGNING_PRIVATE_KEY")
    assert main(["archive", "--bucket", bucket]) == 2
    monkeypatch.setenv("AUDIT_SIGNING_PRIVATE_KEY", service_key.env["AUDIT_SIGNING_PRIVATE_KEY"])
    monkeypatch.setenv("NODE_ENV", "production")  # the guard: no local key signs checkpoints in production
    assert main(["archive", "--bucket", bucket]) == 2
    err = capsys.readouterr().err
    assert "AUDIT_ARCHIVE_BUCKET" in err and "no audit signer is configured" in err
    assert "Audit signing is required" in err


def test_a_run_that_died_before_indexing_is_adopted(
    database: Database, service_key: ServiceKey, s3_env: Any, make_bucket: Any, s3_client: Any, capsys: Any
) -> None:
    fill(database, service_key, 4)
    bucket = make_bucket(lock_days=1)
    assert run_archive(capsys, database.url, "--bucket", bucket)[0] == 0
    database.execute(f"DELETE FROM {_archives(database)}")  # as if the run died after the upload
    code, doc = run_archive(capsys, database.url, "--bucket", bucket)
    assert code == 0 and doc["adopted"] is True and len(keys(s3_client, bucket)) == 1
    with open_database(database.url) as db:
        assert [e.last_seq for e in db.archives()] == [3]


def test_a_taken_key_or_a_broken_chain_is_refused(
    database: Database, service_key: ServiceKey, s3_env: Any, make_bucket: Any, s3_client: Any, capsys: Any
) -> None:
    fill(database, service_key, 4)
    bucket = make_bucket(lock_days=None)
    s3_client.put_object(Bucket=bucket, Key="audit/00000000000000000000-00000000000000000003.jsonl", Body=b"x\n")
    assert main(["archive", database.url, "--bucket", bucket]) == 1
    assert "not overwritten" in capsys.readouterr().err
    database.execute("DELETE FROM audit_records WHERE seq = 1")
    assert main(["archive", database.url, "--bucket", bucket, "--prefix", "other/"]) == 1
    assert "refusing to archive: row 2 is not seq 1" in capsys.readouterr().err
    assert keys(s3_client, bucket) == ["audit/00000000000000000000-00000000000000000003.jsonl"]


def test_verify_archive_reports_a_replaced_object(
    database: Database, service_key: ServiceKey, s3_env: Any, make_bucket: Any, s3_client: Any, capsys: Any
) -> None:
    fill(database, service_key, 3)
    bucket = make_bucket(lock_days=None)  # without Object Lock a writer can replace it: the verifier sees it
    assert run_archive(capsys, database.url, "--bucket", bucket)[0] == 0
    key = keys(s3_client, bucket)[0]
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3_client.put_object(Bucket=bucket, Key=key, Body=body.replace(b'"n":1', b'"n":7'))
    assert main(["verify-archive", f"s3://{bucket}/{key}", "--keys", str(service_key.jwks), "--json"]) == 1
    found = {f["code"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert {"HASH_MISMATCH", "ARCHIVE_DIGEST_MISMATCH"} <= found
    assert main(["verify-archive", f"s3://{bucket}/missing.jsonl", "--keys", str(service_key.jwks)]) == 2
    assert "NoSuchKey" in capsys.readouterr().err


def _archives(database: Database) -> str:
    return "audit_records_archives" if database.kind == "postgres" else "audit_archives"


def _body(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _sha(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


def test_segment_archive_tamper_of_its_start(service_key: ServiceKey, tmp_path: Path) -> None:
    """A segment's header start is checked against the one its checkpoint signs."""
    import io

    from pytest_kmsconform.reference_impl.audit.archive import ChainStart, write_archive
    from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
    from pytest_kmsconform.reference_impl.verifier import Verifier

    with SqliteAuditStore(tmp_path / "a.db", service_key.signer) as store:
        records = [store.append({"n": i}) for i in range(8)]
    out = io.BytesIO()
    write_archive(records[3:], out, service_key.signer, producer="t", start=ChainStart(3, records[2].hash))
    verifier = Verifier(json.loads(service_key.jwks.read_text()))
    good = out.getvalue()
    assert verifier.verify_archive(io.BytesIO(good)) == []
    assert verifier.verify_archive(io.BytesIO(good), workers=2) == []
    lines = good.split(b"\n")
    header = json.loads(lines[0])
    header.update(first_seq=4, prev_hash=records[3].hash)  # drop record 3, claim the segment starts later
    forged = b"\n".join([json.dumps(header).encode(), *lines[2:]])
    found = {(f.code.value, f.index) for f in verifier.verify_archive(io.BytesIO(forged))}
    assert ("CHAIN_BROKEN", 0) in found and ("TRUNCATED", 4) in found
    as_genesis = b"\n".join(
        [json.dumps({k: v for k, v in header.items() if k not in ("first_seq", "prev_hash")}).encode(), *lines[1:]]
    )
    assert ("CHAIN_BROKEN", 0) in {(f.code.value, f.index) for f in verifier.verify_archive(io.BytesIO(as_genesis))}
