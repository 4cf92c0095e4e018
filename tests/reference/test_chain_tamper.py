"""Tampering with an exported archive: each attack gives its finding code and the record index."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl import verifier as verifier_module
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit import iter_archive
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.errors import ArchiveFormatError
from pytest_kmsconform.reference_impl.keyring import RingSigner
from pytest_kmsconform.reference_impl.verifier import Finding, FindingCode, Verifier

from pytest_kmsconform import PRODUCER

Lines = list[dict[str, Any]]


def read(path: Path) -> Lines:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, lines: Lines) -> Path:
    out = path.with_name("tampered.jsonl")
    out.write_bytes(b"".join(canonicalize_payload(obj) + b"\n" for obj in lines))
    return out


Verify = Callable[[dict[str, Any], Path], list[Finding]]


@pytest.fixture(
    params=[(1, None), (2, None), (1, 3), (2, 3)],
    ids=["1-process", "2-workers", "1-process-batch3", "2-workers-batch3"],
)
def verify(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Verify:
    """Verify an archive in one mode: in-process or on 2 workers, with the default batch size or with
    batches of 3 records (so that tampering falls on batch boundaries). Every mode must give exactly
    the findings of the default single-process run."""
    workers, batch = request.param

    def _verify(jwks: dict[str, Any], source: Path) -> list[Finding]:
        reference = Verifier(jwks).verify_archive(source)
        with monkeypatch.context() as patch:
            if batch is not None:
                patch.setattr(verifier_module, "BATCH", batch)
            findings = Verifier(jwks).verify_archive(source, workers=workers)
        assert findings == reference
        return findings

    return _verify


def codes(findings: list[Finding]) -> dict[FindingCode, int | None]:
    return {f.code: f.index for f in findings}


def resign(record: dict[str, Any], signer: RingSigner) -> None:
    """Recompute a record's hash and signature (what an attacker holding ``signer`` would do)."""
    digest = audit_digest(canonicalize_payload(record["payload"]), record["prev_hash"]).hex()
    record["hash"] = digest
    record["signature"] = signer.sign_digest(bytes.fromhex(digest)).to_json()


def test_clean_archive_has_no_findings(archive: Path, signer: RingSigner) -> None:
    verifier = Verifier(signer.jwks())
    assert verifier.verify_archive(archive) == []
    assert verifier.verify_archive(io.BytesIO(archive.read_bytes())) == []
    assert verifier.verify_archive(io.StringIO(archive.read_text())) == []
    records = list(iter_archive(archive))
    assert [r.seq for r in records] == list(range(10))
    assert verifier.verify_records(records) == []


def test_payload_edit_is_hash_mismatch(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)
    lines[1 + 4]["payload"]["actor"] = "mallory"
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.HASH_MISMATCH] == 4
    assert FindingCode.ARCHIVE_DIGEST_MISMATCH in found  # the checkpoint covers every byte too


def test_delete_is_chain_broken(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)
    del lines[1 + 3]
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.CHAIN_BROKEN] == 3
    assert found[FindingCode.TRUNCATED] == 9  # the checkpoint counts 10


def test_delete_genesis_is_chain_broken_at_0(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)
    del lines[1]
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.CHAIN_BROKEN] == 0


def test_reorder_is_chain_broken(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)
    lines[1 + 5], lines[1 + 6] = lines[1 + 6], lines[1 + 5]
    findings = verify(signer.jwks(), write(archive, lines))
    assert findings[0] == Finding(FindingCode.CHAIN_BROKEN, 5, findings[0].message)
    assert "prev_hash" in findings[0].message


def test_insert_forged_record(
    archive: Path, signer: RingSigner, make_signer: Callable[..., RingSigner], verify: Verify
) -> None:
    lines = read(archive)
    forged = dict(lines[1 + 6], payload={"type": "approval", "n": 99, "actor": "mallory"})
    forged["prev_hash"] = lines[1 + 5]["hash"]
    resign(forged, make_signer(label="attacker", seed=b"other"))
    lines.insert(1 + 6, forged)
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.UNKNOWN_KEY] == 6
    assert found[FindingCode.CHAIN_BROKEN] == 7  # seq 6 repeats, and the old 6 no longer links


def test_truncated_tail_without_checkpoint(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)[:-3]  # drop the checkpoint and the last two records
    findings = verify(signer.jwks(), write(archive, lines))
    assert codes(findings) == {FindingCode.TRUNCATED: 8}


def test_truncated_tail_keeping_checkpoint(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)
    del lines[-3:-1]
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.TRUNCATED] == 8
    assert found[FindingCode.ARCHIVE_DIGEST_MISMATCH] is None


def test_truncated_chain_with_forged_checkpoint_fails_on_signature(
    archive: Path, signer: RingSigner, make_signer: Callable[..., RingSigner], verify: Verify
) -> None:
    lines = read(archive)
    del lines[-3:-1]
    records = b"".join(canonicalize_payload(obj) + b"\n" for obj in lines[1:-1])
    body = {
        "count": 8,
        "head_hash": lines[-2]["hash"],
        "records_sha256": hashlib.sha256(records).hexdigest(),
        "created_at": lines[-1]["checkpoint"]["created_at"],
    }
    attacker = make_signer(label="attacker", seed=b"other")
    sig = attacker.sign_digest(hashlib.sha256(canonicalize_payload(body)).digest())
    lines[-1] = {"checkpoint": {**body, "signature": sig.to_json()}}
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found == {FindingCode.UNKNOWN_KEY: None}


def test_resign_with_unknown_key(
    archive: Path, signer: RingSigner, make_signer: Callable[..., RingSigner], verify: Verify
) -> None:
    lines = read(archive)
    lines[1 + 2]["payload"]["actor"] = "mallory"
    resign(lines[1 + 2], make_signer(label="attacker", seed=b"other"))
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.UNKNOWN_KEY] == 2
    assert found[FindingCode.CHAIN_BROKEN] == 3


def test_resign_with_known_kid_but_wrong_key_is_bad_signature(
    archive: Path, signer: RingSigner, make_signer: Callable[..., RingSigner], verify: Verify
) -> None:
    lines = read(archive)
    lines[1 + 2]["payload"]["actor"] = "mallory"
    resign(lines[1 + 2], make_signer(seed=b"other"))  # same label: same kid, other key
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.BAD_SIGNATURE] == 2


def test_altered_prev_hash(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)
    lines[1 + 7]["prev_hash"] = "0" * 64
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.CHAIN_BROKEN] == 7
    assert found[FindingCode.HASH_MISMATCH] == 7  # prev_hash is part of the digest


def test_altered_ts_is_caught_by_the_checkpoint(archive: Path, signer: RingSigner, verify: Verify) -> None:
    lines = read(archive)
    lines[1 + 1]["ts"] = "2020-01-01T00:00:00.000000Z"
    found = codes(verify(signer.jwks(), write(archive, lines)))
    assert found[FindingCode.KEY_NOT_VALID_AT_TIME] == 1  # before the key's not_before
    assert found[FindingCode.ARCHIVE_DIGEST_MISMATCH] is None


def test_revoked_key(archive: Path, signer: RingSigner, clock: Any, verify: Verify) -> None:
    records = list(iter_archive(archive))
    revoked_at = records[6].ts
    from pytest_kmsconform.reference_impl.clock import parse_time

    clock.now = parse_time(revoked_at)
    signer.ring.rotate()
    signer.ring.revoke(records[0].signature.kid, reason="compromised")
    findings = verify(signer.jwks(), archive)
    found = codes(findings)
    assert found[FindingCode.KEY_REVOKED] == 6  # signed at revoked_at: rejected; before: still valid
    # records 6-9 and the checkpoint (signed later by the same key)
    assert "and 4 more" in next(f.message for f in findings if f.code is FindingCode.KEY_REVOKED)


def test_out_of_validity_key(archive: Path, signer: RingSigner, verify: Verify) -> None:
    jwks = signer.jwks()
    records = list(iter_archive(archive))
    jwks["keys"][0]["status"] = "retired"
    jwks["keys"][0]["not_after"] = records[4].ts
    found = codes(verify(jwks, archive))
    assert found[FindingCode.KEY_NOT_VALID_AT_TIME] == 5


@pytest.mark.parametrize("at", [0, 2, 3, 9])  # with batches of 3: first, last, first, last of a batch
def test_format_errors_are_findings(archive: Path, signer: RingSigner, verify: Verify, at: int) -> None:
    raw = archive.read_bytes().split(b"\n")
    raw[1 + at] = b"{not json"
    bad = archive.with_name("bad.jsonl")
    bad.write_bytes(b"\n".join(raw))
    found = codes(verify(signer.jwks(), bad))
    assert found[FindingCode.FORMAT_ERROR] == at
    # the next record's link cannot be judged, it is not blamed; an unparsable last record is no head
    assert found.get(FindingCode.CHAIN_BROKEN) == (9 if at == 9 else None)


def test_bad_header_and_empty_archive(tmp_path: Path, signer: RingSigner) -> None:
    verifier = Verifier(signer.jwks())
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert codes(verifier.verify_archive(empty)) == {FindingCode.TRUNCATED: 0}
    other = tmp_path / "other.jsonl"
    other.write_text('{"format": "something-else/9"}\n')
    assert codes(verifier.verify_archive(other)) == {FindingCode.FORMAT_ERROR: None}


def test_iter_archive_refuses_a_missing_checkpoint(archive: Path) -> None:
    lines = read(archive)[:-1]
    with pytest.raises(ArchiveFormatError, match="checkpoint"):
        list(iter_archive(write(archive, lines)))


def test_verify_records_tamper(archive: Path, signer: RingSigner) -> None:
    records = list(iter_archive(archive))
    from dataclasses import replace

    edited = [*records[:3], replace(records[3], payload={"x": 1}), *records[4:]]
    assert codes(Verifier(signer.jwks()).verify_records(edited)) == {FindingCode.HASH_MISMATCH: 3}
    swapped = [*records[:3], records[4], records[3], *records[5:]]
    assert codes(Verifier(signer.jwks()).verify_records(swapped))[FindingCode.CHAIN_BROKEN] == 3


def test_workers_give_the_same_findings(
    archive: Path, signer: RingSigner, make_signer: Callable[..., RingSigner]
) -> None:
    lines = read(archive)
    lines[1 + 2]["payload"]["actor"] = "mallory"
    resign(lines[1 + 2], make_signer(label="attacker", seed=b"other"))
    tampered = write(archive, lines)
    verifier = Verifier(signer.jwks())
    assert verifier.verify_archive(tampered, workers=2) == verifier.verify_archive(tampered)
    assert verifier.verify_archive(archive, workers=2) == []


@pytest.mark.parametrize("alg", [a for a in Algorithm if not a.is_symmetric], ids=str)
def test_every_asymmetric_algorithm_round_trips(
    tmp_path: Path, make_signer: Callable[..., RingSigner], clock: Any, alg: Algorithm, verify: Verify
) -> None:
    from pytest_kmsconform.reference_impl.audit import SqliteAuditStore, export_archive

    signer = make_signer(alg)
    with SqliteAuditStore(tmp_path / "a.db", signer, clock=clock) as store:
        for i in range(3):
            clock.advance()
            store.append({"i": i, "f": 1.5, "s": "\u20ac"})
        export_archive(store, tmp_path / "a.jsonl", signer, producer=PRODUCER, clock=clock)
    assert verify(signer.jwks(), tmp_path / "a.jsonl") == []


def test_hmac_chain_needs_the_secret(tmp_path: Path, make_signer: Callable[..., RingSigner], clock: Any) -> None:
    from pytest_kmsconform.reference_impl.audit import SqliteAuditStore, export_archive

    signer = make_signer(Algorithm.HMAC_SHA256)
    with SqliteAuditStore(tmp_path / "a.db", signer, clock=clock) as store:
        clock.advance()
        store.append({"i": 1})
        export_archive(store, tmp_path / "a.jsonl", signer, producer=PRODUCER, clock=clock)
    assert signer.jwks() == {"keys": []}
    secret = signer.ring.backend.hmac_secret(signer.ring.active().key)  # type: ignore[attr-defined]
    ok = Verifier({"keys": []}, hmac_secrets={signer.kid: secret})
    assert ok.verify_archive(tmp_path / "a.jsonl") == []
    wrong = Verifier({"keys": []}, hmac_secrets={signer.kid: b"not the secret"})
    assert FindingCode.BAD_SIGNATURE in codes(wrong.verify_archive(tmp_path / "a.jsonl"))
    assert FindingCode.UNKNOWN_KEY in codes(Verifier({"keys": []}).verify_archive(tmp_path / "a.jsonl"))


@pytest.mark.parametrize("where", ["after-payload", "before-end"])
def test_duplicate_payload_member_cannot_smuggle_a_payload(
    archive: Path, signer: RingSigner, where: str, verify: Verify
) -> None:
    """The parser keeps the last duplicate member; the verifier must judge that one, not the signed bytes."""
    raw = archive.read_bytes().split(b"\n")
    line = raw[1 + 4]
    evil = b',"payload":{"actor":"mallory"}'
    at = line.index(b',"prev_hash":') if where == "after-payload" else len(line) - 1
    raw[1 + 4] = line[:at] + evil + line[at:]
    assert json.loads(raw[1 + 4])["payload"] == {"actor": "mallory"}
    tampered = archive.with_name("dup.jsonl")
    tampered.write_bytes(b"\n".join(raw))
    found = codes(verify(signer.jwks(), tampered))
    assert found[FindingCode.HASH_MISMATCH] == 4
