"""The digest is over the RFC 8785 form of the payload, never over the bytes a line happens to hold.

A producer that hashes sorted ``json.dumps`` bytes (or any other look-alike) writes records whose
hash is not ``SHA256(canonical(payload) || prev_hash)``: every path of the verifier reports them
``HASH_MISMATCH``, whether the line holds the canonical payload or the look-alike bytes. A line whose
hash is right but whose bytes are not canonical breaks the archive format (docs/spec.md section 6):
``FORMAT_ERROR`` at its index, its link and signature still judged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl import verifier as verifier_module
from pytest_kmsconform.reference_impl.audit import record_lines
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.clock import format_time
from pytest_kmsconform.reference_impl.keyring import RingSigner
from pytest_kmsconform.reference_impl.verifier import FindingCode, Verifier

TS = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)

Encode = Callable[[Any], bytes]
SORTED_DUMPS: Encode = lambda p: json.dumps(p, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()  # noqa: E731
LOOK_ALIKES: dict[str, Encode] = {
    "sorted-json-dumps": SORTED_DUMPS,
    "json-dumps-blanks": lambda p: json.dumps(p, sort_keys=True).encode(),
    "ascii-escaped": lambda p: json.dumps(p, sort_keys=True, separators=(",", ":")).encode(),
}
# Payloads on which a look-alike and RFC 8785 disagree, one reason each.
PAYLOADS: dict[str, Any] = {
    "float-one": {"amount": 1.0, "type": "approval"},
    "float-1e16": {"amount": 1e16},
    "negative-zero": {"delta": -0.0},
    "float-1e-7": {"rate": 1e-7},
    "utf16-key-order": {"\ue000": "private use", "\U0001f600": "non-BMP"},
    "non-ascii": {"city": "Z\u00fcrich"},
}


def line_of(signer: RingSigner, payload_bytes: bytes, hashed: bytes, seq: int = 0, prev: str | None = None) -> bytes:
    """A record line laid out as the exporter does, holding ``payload_bytes``, hashed over ``hashed``."""
    digest = audit_digest(hashed, prev).hex()
    signature = canonicalize_payload(signer.sign_digest(bytes.fromhex(digest)).to_json())
    prev_json = b"null" if prev is None else b'"%s"' % prev.encode()
    return b'{"hash":"%s","payload":%s,"prev_hash":%s,"seq":%d,"signature":%s,"ts":"%s"}' % (
        digest.encode(),
        payload_bytes,
        prev_json,
        seq,
        signature,
        format_time(TS).encode(),
    )


def findings(signer: RingSigner, lines: list[bytes], path: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        if path == "general":
            patch.setattr(verifier_module, "fast_record", lambda line: None)
        return Verifier(signer.jwks()).check_lines(0, lines)[2]


@pytest.mark.parametrize("path", ["fast", "general"])
@pytest.mark.parametrize("producer", sorted(LOOK_ALIKES))
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_a_hash_over_look_alike_bytes_is_a_hash_mismatch(
    signer: RingSigner, name: str, producer: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = PAYLOADS[name]
    look_alike = LOOK_ALIKES[producer](payload)
    canonical = canonicalize_payload(payload)
    if look_alike == canonical:
        pytest.skip(f"{producer} happens to write RFC 8785 bytes for {name}")
    # the line holds the canonical payload, the hash is over the look-alike bytes
    written_canonical = line_of(signer, canonical, look_alike)
    found = findings(signer, [written_canonical], path, monkeypatch)
    assert list(found) == [FindingCode.HASH_MISMATCH] and found[FindingCode.HASH_MISMATCH][0] == 0
    # the line holds the look-alike bytes it was hashed over (what a lenient producer writes)
    written_as_hashed = line_of(signer, look_alike, look_alike)
    assert record_lines.fast_record(written_as_hashed) is None
    found = findings(signer, [written_as_hashed], path, monkeypatch)
    assert found[FindingCode.HASH_MISMATCH][0] == 0


@pytest.mark.parametrize("path", ["fast", "general"])
@pytest.mark.parametrize(
    "written",
    [
        b'{"amount":1.0}',
        b'{"amount":1e0}',
        b'{"amount":10000000000000000.0}',
        b'{"amount":1.50}',
        b'{"amount":-0}',
        b'{"amount" :1}',
        b'{"amount":1,"amount":1}',
        b'{"b":1,"a":2}',
        b'{"s":"\\u0041"}',
        b'{"s":"\\/"}',
        b'{"s":"\\u00fc"}',
        b'{"\\ud83d\\ude00":1,"\xee\x80\x80":2}',
    ],
)
def test_a_line_whose_payload_is_not_written_canonical_is_a_format_error(
    signer: RingSigner, written: bytes, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash is right (over the canonical form) but the bytes are not that form: the format is broken
    (every line is RFC 8785 canonical JSON), the record's link and signature are still judged."""
    canonical = canonicalize_payload(json.loads(written))
    assert canonical != written
    line = line_of(signer, written, canonical)
    assert record_lines.fast_record(line) is None
    segment = Verifier(signer.jwks()).check_lines(0, [line])
    found = findings(signer, [line], path, monkeypatch)
    assert list(found) == [FindingCode.FORMAT_ERROR] and found[FindingCode.FORMAT_ERROR][0] == 0
    assert segment[1] == (0, audit_digest(canonical, None).hex())  # the link is judged


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": 1.5, "n": 9007199254740991, "s": '\u20ac\u2028\x7f\x1f"\\', "t": [True, False, None]},
        {"floats": [0.1, 2.5, -3.25, 123456.789], "k\u00e9": {"nested": [{}]}},
        {"amount": 1e16, "small": 1e-7, "big": 2.5e21, "zero": -0.0, "one": 1.0},
        {"\ue000": 1, "\U0001f600": 2, "z": "\U0001f600"},
    ],
)
@pytest.mark.parametrize("path", ["fast", "general"])
def test_canonical_lines_verify_on_every_path(
    signer: RingSigner, payload: Any, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    canonical = canonicalize_payload(payload)
    first = line_of(signer, canonical, canonical)
    second = line_of(signer, canonical, canonical, seq=1, prev=audit_digest(canonical, None).hex())
    assert findings(signer, [first, second], path, monkeypatch) == {}


def test_the_fast_path_takes_plain_canonical_lines(signer: RingSigner) -> None:
    canonical = canonicalize_payload({"actor": "agent-7", "amount": 86415, "rate": 0.25, "s": "caf\u00e9"})
    assert record_lines.fast_record(line_of(signer, canonical, canonical)) is not None


def test_a_lenient_producers_archive_does_not_verify(tmp_path: Path, signer: RingSigner) -> None:
    """A whole archive from a producer that hashes sorted ``json.dumps``: lines, records_sha256 and
    checkpoint consistent with what it wrote, every signature valid. Every record is a HASH_MISMATCH
    (the first one named, the others counted), on one process and on two workers alike."""
    lines, prev = [], None
    for n in range(5):
        payload = {"type": "approval", "n": n, "amount": float(n)}
        line = line_of(signer, SORTED_DUMPS(payload), SORTED_DUMPS(payload), seq=n, prev=prev)
        lines.append(line)
        prev = json.loads(line)["hash"]
    records = b"".join(line + b"\n" for line in lines)
    body = {"count": 5, "created_at": format_time(TS), "head_hash": prev}
    body["records_sha256"] = hashlib.sha256(records).hexdigest()
    signature = signer.sign_digest(hashlib.sha256(canonicalize_payload(body)).digest()).to_json()
    header = {"created_at": format_time(TS), "format": "kmsconform-audit-archive/1", "producer": "lenient"}
    path = tmp_path / "lenient.jsonl"
    checkpoint = canonicalize_payload({"checkpoint": {**body, "signature": signature}})
    path.write_bytes(canonicalize_payload(header) + b"\n" + records + checkpoint + b"\n")
    verifier = Verifier(signer.jwks())
    one = verifier.verify_archive(path)
    assert one == verifier.verify_archive(path, workers=2)
    mismatch = next(f for f in one if f.code is FindingCode.HASH_MISMATCH)
    assert mismatch.index == 0 and "4 more" in mismatch.message
