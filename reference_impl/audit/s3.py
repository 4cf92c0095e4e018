"""Archive objects in an S3 bucket (AWS, moto's S3, or any S3-compatible endpoint): write once, read back.

Objects are written with ``If-None-Match: *`` (S3 refuses to replace an existing key) and their
SHA-256 as the object checksum (``x-amz-checksum-sha256``, checked by S3 on upload and by us on
read-back). When the bucket has Object Lock enabled, each object is written in ``COMPLIANCE``
mode, retained for ``retention_days`` or else the bucket's default retention: nobody, root
included, can delete or overwrite that version before it expires. Needs boto3 (extra ``aws``).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from ..clock import Clock, utc_now
from ..errors import AuditStoreError, ConfigurationError
from ..findings import Finding, FindingCode
from ..verifier import Verifier
from .archiver import ObjectExists, StoredObject, object_lines

BUCKET_VARIABLE = "AUDIT_ARCHIVE_BUCKET"  # seed 001


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; raises ``ValueError`` on anything else."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, sep, key = uri[len("s3://") :].partition("/")
    if not bucket or not sep or not key:
        raise ValueError(f"expected s3://BUCKET/KEY, got {uri!r}")
    return bucket, key


def s3_client(env: Mapping[str, str] | None = None) -> Any:
    """A boto3 S3 client: ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` select an S3-compatible
    endpoint (path-style addressing then), region and credentials as boto3 finds them."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigurationError(f"S3 archives need boto3 (pip install 'pytest-kmsconform[aws]'): {exc}") from None
    env = os.environ if env is None else env
    kwargs: dict[str, Any] = {"region_name": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    config = Config(retries={"mode": "standard"})
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        config = config.merge(Config(s3={"addressing_style": "path"}))
    return boto3.client("s3", config=config, **kwargs)


@dataclass(frozen=True)
class ObjectLock:
    """A bucket's Object Lock: enabled, and its default retention (``None`` when it has none)."""

    default_mode: str | None
    default_days: int | None


class S3ArchiveBucket:
    """:class:`~.archiver.ArchiveSink` over one S3 bucket.

    :param retention_days: Object Lock retention of new objects (default: the bucket's default rule).
    """

    def __init__(
        self, bucket: str, *, client: Any = None, retention_days: int | None = None, clock: Clock = utc_now
    ) -> None:
        self.bucket = bucket
        self.client = client if client is not None else s3_client()
        self.retention_days = retention_days
        self._clock = clock
        self._lock: ObjectLock | None = None
        self._lock_known = False

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def object_lock(self) -> ObjectLock | None:
        """The bucket's Object Lock configuration, ``None`` when it has none."""
        if not self._lock_known:
            from botocore.exceptions import ClientError

            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)["ObjectLockConfiguration"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code != "ObjectLockConfigurationNotFoundError":
                    raise AuditStoreError(f"s3://{self.bucket}: {code or exc}") from None
                conf = {}
            if conf.get("ObjectLockEnabled") == "Enabled":
                rule = conf.get("Rule", {}).get("DefaultRetention", {})
                days = rule.get("Days") or (rule["Years"] * 365 if rule.get("Years") else None)
                self._lock = ObjectLock(rule.get("Mode"), days)
            self._lock_known = True
        return self._lock

    def put_new(self, key: str, body: IO[bytes], *, size: int, sha256: bytes, metadata: dict[str, str]) -> StoredObject:
        from botocore.exceptions import ClientError

        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentLength": size,
            "ContentType": "application/jsonl",
            "ChecksumAlgorithm": "SHA256",  # x-amz-sdk-checksum-algorithm: what Object Lock puts require
            "ChecksumSHA256": base64.b64encode(sha256).decode(),
            "Metadata": metadata,
            "IfNoneMatch": "*",
        }
        lock = self.object_lock()
        if lock is not None:
            days = self.retention_days if self.retention_days is not None else lock.default_days
            if days is None:
                raise AuditStoreError(
                    f"s3://{self.bucket} has Object Lock but no default retention: pass --retention-days"
                )
            args["ObjectLockMode"] = "COMPLIANCE"
            args["ObjectLockRetainUntilDate"] = self._clock() + timedelta(days=days)
        try:
            answer = self.client.put_object(**args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ObjectExists(f"{self.uri(key)} exists; not overwritten") from None
            raise AuditStoreError(f"cannot write {self.uri(key)}: {code or exc}") from None
        return StoredObject(self.uri(key), answer.get("VersionId"))

    def open(self, key: str) -> IO[bytes]:
        return self.get(key)[0]

    def get(self, key: str) -> tuple[IO[bytes], dict[str, str]]:
        """The object's body (its checksum checked by the SDK as it is read) and its metadata."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise AuditStoreError(f"cannot read {self.uri(key)}: {code or exc}") from None
        return answer["Body"], dict(answer.get("Metadata", {}))

    def head(self, key: str) -> dict[str, Any]:
        """The object's metadata, checksum and lock (``HeadObject``)."""
        answer: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        return answer


def verify_s3_archive(verifier: Verifier, uri: str, *, client: Any = None, workers: int = 1) -> list[Finding]:
    """Verify the archive object at ``s3://bucket/key`` as it streams in: the archive's findings,
    plus ``ARCHIVE_DIGEST_MISMATCH`` when the object's bytes are not the SHA-256 stored with it.

    :raises AuditStoreError: the object cannot be read.
    """
    import hashlib

    from botocore.exceptions import FlexibleChecksumError

    bucket, key = parse_s3_uri(uri)
    store = S3ArchiveBucket(bucket, client=client)
    body, metadata = store.get(key)
    stored_sha = metadata.get("kmsconform-sha256")
    sha = hashlib.sha256()

    def lines() -> Any:
        for line in object_lines(body):
            sha.update(line)
            yield line

    try:
        findings = verifier.verify_archive(lines(), workers=workers)
    except FlexibleChecksumError as exc:
        return [Finding(FindingCode.ARCHIVE_DIGEST_MISMATCH, None, f"{uri}: {exc}")]
    finally:
        body.close()
    if stored_sha is not None and stored_sha != sha.hexdigest():
        findings.append(
            Finding(
                FindingCode.ARCHIVE_DIGEST_MISMATCH, None, f"{uri}: the object's SHA-256 is not the one stored with it"
            )
        )
    return findings
