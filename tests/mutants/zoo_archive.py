"""Mutants of the archive exporter (docs/spec.md section 6: canonical lines, records_sha256 over the
lines as written, a checkpoint signed over its canonical body). The target is the exporter as the
reference adapter binds it, so the suites' own archives stay correct."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pytest_kmsconform.mutation import mutant

TARGET = "pytest_kmsconform.reference_adapter:export_archive"
SELECT = "test_append_export_verify"


def _exporter(
    *,
    line: Callable[[dict[str, Any]], bytes] | None = None,
    hashed: Callable[[bytes], bytes] = lambda written: written,
    count: Callable[[int], int] = lambda n: n,
    body_bytes: Callable[[dict[str, Any]], bytes] | None = None,
) -> Callable[..., Any]:
    """``export_archive`` rebuilt from its parts, with one part swapped by the caller."""
    from pytest_kmsconform.reference_impl.audit.archive import FORMAT, checkpoint_body
    from pytest_kmsconform.reference_impl.canonical import canonicalize_payload
    from pytest_kmsconform.reference_impl.clock import format_time, utc_now

    def export_archive(store: Any, dest: Any, signer: Any, **_: Any) -> None:
        created_at = format_time(utc_now())
        header = {"format": FORMAT, "created_at": created_at, "producer": "mutant"}
        out = [canonicalize_payload(header) + b"\n"]
        h = hashlib.sha256()
        n, head = 0, None
        for record in store.records():
            obj = record.to_json()
            written = (line(obj) if line else canonicalize_payload(obj)) + b"\n"
            h.update(hashed(written))
            out.append(written)
            n, head = n + 1, record.hash
        body = checkpoint_body(count(n), head, h.hexdigest(), created_at)
        signed = body_bytes(body) if body_bytes else canonicalize_payload(body)
        signature = signer.sign_digest(hashlib.sha256(signed).digest())
        out.append(canonicalize_payload({"checkpoint": {**body, "signature": signature.to_json()}}) + b"\n")
        with open(dest, "wb") as fh:
            fh.write(b"".join(out))

    return export_archive


@mutant(
    TARGET,
    bug="archive: records_sha256 over the lines without their newlines",
    violates="docs/spec.md section 6 (each record's canonical bytes followed by \\n)",
    select=SELECT,
)
def records_sha256_without_newlines(original: Any) -> Any:
    return _exporter(hashed=lambda written: written.rstrip(b"\n"))


@mutant(
    TARGET,
    bug="archive: record lines written by json.dumps (same JSON, not canonical bytes)",
    violates="docs/spec.md section 6 (every line is RFC 8785 canonical JSON); RFC 8785",
    select=SELECT,
)
def noncanonical_lines(original: Any) -> Any:
    return _exporter(line=lambda obj: json.dumps(obj, sort_keys=True).encode())


@mutant(
    TARGET,
    bug="archive: the checkpoint counts one record less (off by one)",
    violates="docs/spec.md section 6 (N = the number of records)",
    select=SELECT,
)
def checkpoint_count_off_by_one(original: Any) -> Any:
    return _exporter(count=lambda n: n - 1)


@mutant(
    TARGET,
    bug="archive: the checkpoint signature over json.dumps of its body, not its canonical form",
    violates="docs/spec.md section 6 (SHA256(canonical(checkpoint body)) is signed); RFC 8785",
    select=SELECT,
)
def checkpoint_signed_noncanonical(original: Any) -> Any:
    return _exporter(body_bytes=lambda body: json.dumps(body).encode())
