"""Suite 4, audit-chain integrity (seed 001): records chain and verify after export, a signing
failure leaves the store as it was, concurrent appenders do not fork the chain, and every tamper
of an archive is reported by the verifier with the right code and index.

Over our ~400-line rule on purpose: one module is one suite (the report and the catalogue group
checks by module), and each check here is a short tamper plus the finding it expects.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import SigningFailed
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.suites import _support as sup
from pytest_kmsconform.suites._rendezvous import wait_or_settle

from pytest_kmsconform.adapter import Implementation, ImplSigner
from pytest_kmsconform.asserts import assert_rejects, codes_and_indexes
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import Memo
from pytest_kmsconform.options import get_config

AUDIT_LOG, VERIFIER, SIGN = Capability.AUDIT_LOG, Capability.VERIFIER, Capability.SIGN
ARCHIVE_RECORDS = sup.ARCHIVE_RECORDS


class FailingSigner:
    """Wraps a signer; while ``armed`` every signing attempt fails (a backend outage mid-append)."""

    def __init__(self, inner: ImplSigner) -> None:
        self.inner = inner
        self.armed = False
        self.attempts = 0

    @property
    def backend(self) -> str:
        return str(getattr(self.inner, "backend", "wrapped"))

    @property
    def alg(self) -> Algorithm:
        return self.inner.alg

    @property
    def kid(self) -> str:
        return self.inner.kid

    def sign_digest(self, digest: bytes) -> Signature:
        if self.armed:
            self.attempts += 1
            raise SigningFailed("injected signing failure (kmsconform check)")
        return self.inner.sign_digest(digest)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.inner.verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        return self.inner.jwks()

    def rotate(self) -> str:
        return self.inner.rotate()

    def revoke(self, kid: str, reason: str) -> None:
        self.inner.revoke(kid, reason)

    def close(self) -> None:
        """The wrapped signer is closed by its owner."""


class RendezvousSigner(FailingSigner):
    """Wraps a signer; the first signing waits (up to ``window_s``) for a second one to start.

    An append that reads the head and signs while holding the write lock never has company here:
    the wait ends once every other appender is blocked (:func:`~._rendezvous.wait_or_settle`), or at
    the cap. An append that reads the head unlocked lets the other appenders read the same head
    meanwhile; two of them meet here and both go on to insert onto that head, so the fork happens
    every time, not when the scheduler happens to interleave them. One that reads the head and then
    waits for the lock is blocked only after reading it, so it forks as well.
    """

    def __init__(self, inner: ImplSigner, window_s: float) -> None:
        super().__init__(inner)
        self.window_s = window_s
        self._cond = threading.Condition()
        self._inside = 0
        self._armed = True
        self.met = False

    def sign_digest(self, digest: bytes) -> Signature:
        with self._cond:
            self._inside += 1
            self._cond.notify_all()
            if self._armed:
                wait_or_settle(self._cond, lambda: self._inside >= 2 or not self._armed, self.window_s)
                self.met = self.met or self._inside >= 2
                self._armed = False
                self._cond.notify_all()
        try:
            return super().sign_digest(digest)
        finally:
            with self._cond:
                self._inside -= 1


RENDEZVOUS_S = 1.0
WRITERS, APPENDS = 8, 2


def _plain(records: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in records]


@pytest.mark.kmsconform_check(
    id="KC-AUD-001",
    title="Appended records chain, verify, and export to an archive the reference verifier accepts",
    source="seed 001 (Digest formula; Audit archive verification); docs/spec.md (archive format)",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["BASIC", "CHAIN_INTEGRITY"],
)
def test_append_export_verify(
    request: pytest.FixtureRequest, kmsconform_impl: Implementation, kmsconform_signer: ImplSigner, tmp_path: Path
) -> None:
    n = get_config(request.config).audit_records
    log = kmsconform_impl.audit_log(kmsconform_signer, tmp_path / "audit.db")
    try:
        for i in range(n):
            log.append(sup.audit_payload(i, actor="kmsconform"))
        records = _plain(log.records())
        log.export_archive(tmp_path / "audit.jsonl")
    finally:
        log.close()
    assert len(records) == n, f"{len(records)} records after {n} appends"
    assert not sup.chain_problems(records), sup.chain_problems(records)
    assert not sup.noncanonical_lines(tmp_path / "audit.jsonl"), sup.noncanonical_lines(tmp_path / "audit.jsonl")
    assert not sup.signature_problems(records, kmsconform_signer), sup.signature_problems(records, kmsconform_signer)
    symmetric = kmsconform_signer.alg.is_symmetric  # HMAC keys are in no JWKS: only the chain is judged offline
    verifier = sup.reference_verifier({"keys": []} if symmetric else kmsconform_signer.jwks())
    findings = codes_and_indexes(verifier.verify_archive(tmp_path / "audit.jsonl"))
    if symmetric:
        findings = [f for f in findings if f[0] != "UNKNOWN_KEY"]
    assert not findings, f"reference verifier findings on the exported archive: {findings}"


@pytest.mark.kmsconform_check(
    id="KC-AUD-002",
    title="A signing failure during append leaves the store exactly as before, and the chain continues",
    source="seed 001 (Signing happens before DB commit; if signing fails the transaction rolls back)",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["ATOMICITY"],
)
def test_signing_failure_rolls_back(
    kmsconform_impl: Implementation, kmsconform_signer: ImplSigner, tmp_path: Path
) -> None:
    signer = FailingSigner(kmsconform_signer)
    log = kmsconform_impl.audit_log(signer, tmp_path / "audit.db")
    try:
        for i in range(3):
            log.append(sup.audit_payload(i))
        before = _plain(log.records())
        signer.armed = True
        assert_rejects(lambda: log.append(sup.audit_payload(3)), "append while signing fails")
        signer.armed = False
        after_failure = _plain(log.records())
        log.append(sup.audit_payload(4))
        final = _plain(log.records())
    finally:
        log.close()
    assert signer.attempts >= 1, "the append did not try to sign"
    assert after_failure == before, f"store changed by a failed append: {len(before)} -> {len(after_failure)} records"
    assert len(final) == 4, f"{len(final)} records, expected 4"
    assert not sup.chain_problems(final), sup.chain_problems(final)
    assert not sup.signature_problems(final, kmsconform_signer), sup.signature_problems(final, kmsconform_signer)


@pytest.mark.kmsconform_check(
    id="KC-AUD-003",
    title="Concurrent appenders on one store never fork the chain or lose a record",
    source="seed 001 (Store hash, prev_hash, signature inside DB transaction)",
    requires=[SIGN, AUDIT_LOG],
    scope="backend",
    flags=["CONCURRENCY"],
)
def test_concurrent_appends_do_not_fork(
    kmsconform_impl: Implementation, kmsconform_signer: ImplSigner, tmp_path: Path
) -> None:
    path = tmp_path / "audit.db"
    signer = RendezvousSigner(kmsconform_signer, RENDEZVOUS_S)
    logs = [kmsconform_impl.audit_log(signer, path) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(w: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                logs[w % 2].append(sup.audit_payload(i, writer=w))
        except BaseException as exc:  # reported below, with the chain state
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        records = _plain(logs[0].records())
    finally:
        for log in logs:
            log.close()
    raced = " (two appenders were signing onto one head at once)" if signer.met else ""
    assert not errors, f"appends failed{raced}: {errors[:3]!r}"
    total = WRITERS * APPENDS
    assert len(records) == total, f"{len(records)} records after {total} acknowledged appends{raced}"
    assert not sup.chain_problems(records), f"{sup.chain_problems(records)}{raced}"
    keys = sorted((r["payload"]["writer"], r["payload"]["n"]) for r in records)
    assert keys == sorted((w, i) for w in range(WRITERS) for i in range(APPENDS)), "records lost or duplicated"


# -- tamper detection by the implementation's verifier --------------------------------------------
def _findings(
    impl: Implementation, memo: Memo, target: Target, tmp_path: Path, factory: pytest.TempPathFactory, tamper: Any
) -> list[tuple[str, int | None]]:
    assert target.alg is not None
    archive, key = sup.memo_archive(memo, target.alg, factory)
    intruder = memo.get(("intruder", target.alg), lambda: sup.ReferenceKey.create(target.alg, "intruder"))  # type: ignore[arg-type]
    changed = archive if tamper is None else tamper(archive, intruder)
    path = changed.write(tmp_path / "tampered.jsonl")
    jwks: Mapping[str, Any] = key.signer.jwks()
    return codes_and_indexes(impl.verifier(jwks).verify_archive(path))


TAMPER_SOURCE = "seed 001 (HASH_MISMATCH or CHAIN_BROKEN); docs/spec.md (finding codes); RFC 9162 section 2.1.4"


def _tamper_case(
    check_id: str, title: str, tamper: sup.Tamper, code: str, index: int | None, source: str = TAMPER_SOURCE
) -> Any:
    @pytest.mark.kmsconform_check(
        id=check_id,
        title=title,
        source=source,
        requires=[VERIFIER],
        scope="alg",
        algs="asymmetric",
        flags=["CHAIN_INTEGRITY"],
    )
    def check(
        kmsconform_target: Target,
        kmsconform_impl: Implementation,
        kmsconform_memo: Memo,
        tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        found = _findings(kmsconform_impl, kmsconform_memo, kmsconform_target, tmp_path, tmp_path_factory, tamper)
        where = "for the archive as a whole" if index is None else f"at record {index}"
        assert (code, index) in found, f"expected {code} {where}; the verifier reported {found}"

    return check


@pytest.mark.kmsconform_check(
    id="KC-AUD-010",
    title="The implementation's verifier reports no finding on an intact archive",
    source="docs/spec.md (archive format); seed 001 (Verification)",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["BASIC", "CHAIN_INTEGRITY"],
)
def test_intact_archive(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_memo: Memo,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    found = _findings(kmsconform_impl, kmsconform_memo, kmsconform_target, tmp_path, tmp_path_factory, None)
    assert found == [], f"findings on an intact archive: {found}"


test_payload_edit = _tamper_case(
    "KC-AUD-011", "An edited payload is reported HASH_MISMATCH at its index", sup.edit_payload(2), "HASH_MISMATCH", 2
)
test_deleted_record = _tamper_case(
    "KC-AUD-012", "A deleted record is reported CHAIN_BROKEN at the next index", sup.delete(2), "CHAIN_BROKEN", 2
)
test_reordered = _tamper_case(
    "KC-AUD-013", "Two swapped records are reported CHAIN_BROKEN at the first index", sup.swap(2), "CHAIN_BROKEN", 2
)
test_inserted = _tamper_case(
    "KC-AUD-014",
    "An inserted (replayed) record is reported CHAIN_BROKEN at its index",
    sup.insert_copy(3),
    "CHAIN_BROKEN",
    3,
)
test_truncated = _tamper_case(
    "KC-AUD-015",
    "A truncated tail is reported TRUNCATED at the first missing index",
    sup.truncate_tail(2),
    "TRUNCATED",
    ARCHIVE_RECORDS - 2,
)
test_unknown_key = _tamper_case(
    "KC-AUD-016",
    "A record re-signed with an unknown key is reported UNKNOWN_KEY",
    sup.resign_unknown(1),
    "UNKNOWN_KEY",
    1,
)
test_prev_hash = _tamper_case(
    "KC-AUD-017",
    "An altered prev_hash is reported CHAIN_BROKEN at its index",
    sup.alter_prev_hash(4),
    "CHAIN_BROKEN",
    4,
)
test_bad_signature = _tamper_case(
    "KC-AUD-018", "A changed record signature is reported BAD_SIGNATURE", sup.flip_signature(3), "BAD_SIGNATURE", 3
)
test_unpublished_kid = _tamper_case(
    "KC-AUD-019",
    "A record whose valid signature is relabelled with an unpublished kid is reported UNKNOWN_KEY at its index",
    sup.relabel_unpublished(2),
    "UNKNOWN_KEY",
    2,
    "seed 000 (key-version identifier); docs/spec.md (UNKNOWN_KEY: a kid that is not in the JWKS)",
)
OUTSIDE_DIGEST_SOURCE = (
    "docs/spec.md section 6 (records_sha256 covers the record lines exactly as written, ts included); RFC 8785"
)
test_ts_changed = _tamper_case(
    "KC-AUD-020",
    "A changed record ts (digest, link and signature intact) is reported ARCHIVE_DIGEST_MISMATCH",
    sup.change_ts(3),
    "ARCHIVE_DIGEST_MISMATCH",
    None,
    OUTSIDE_DIGEST_SOURCE,
)
test_reformatted_line = _tamper_case(
    "KC-AUD-021",
    "A record line re-formatted to other bytes of the same JSON is reported ARCHIVE_DIGEST_MISMATCH",
    sup.reformat_line(1),
    "ARCHIVE_DIGEST_MISMATCH",
    None,
    OUTSIDE_DIGEST_SOURCE,
)


@pytest.mark.kmsconform_check(
    id="KC-AUD-023",
    title=(
        "A record whose hash is over sorted json.dumps bytes, not RFC 8785, is reported HASH_MISMATCH at its "
        "index, whether its line holds the canonical payload or the bytes that were hashed"
    ),
    source=(
        "seed 001 (Digest formula: SHA256(canonical payload || prev_hash bytes)); docs/spec.md sections 4 and 7 "
        "(HASH_MISMATCH); RFC 8785"
    ),
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["CHAIN_INTEGRITY"],
)
def test_hash_over_lookalike_bytes(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_memo: Memo,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert kmsconform_target.alg is not None
    archive, key = sup.memo_archive(kmsconform_memo, kmsconform_target.alg, tmp_path_factory)
    for written in ("canonical", "look-alike"):
        lenient = sup.hashed_over_look_alike(archive, key, 2, write_look_alike=written == "look-alike")
        path = lenient.write(tmp_path / f"lenient-{written}.jsonl")
        found = codes_and_indexes(kmsconform_impl.verifier(key.signer.jwks()).verify_archive(path))
        assert ("HASH_MISMATCH", 2) in found, (
            f"record 2 is hashed over sorted json.dumps of its payload (the line holds the {written} bytes), "
            f"everything else signed and consistent; the verifier reported {found}"
        )


@pytest.mark.kmsconform_check(
    id="KC-AUD-024",
    title=(
        "A record hash and the next prev_hash written in upper-case hex (same bytes, re-sealed checkpoint) are "
        "both reported (one finding per code)"
    ),
    source="docs/spec.md section 4 (hashes are 64 lower-case hex characters) and section 7; seed 001 (Digest formula)",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["CHAIN_INTEGRITY"],
)
def test_upper_case_hex_hash(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_memo: Memo,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert kmsconform_target.alg is not None
    archive, key = sup.memo_archive(kmsconform_memo, kmsconform_target.alg, tmp_path_factory)
    path = sup.upper_case_hash(archive, key, 2).write(tmp_path / "upper-case.jsonl")
    found = codes_and_indexes(kmsconform_impl.verifier(key.signer.jwks()).verify_archive(path))
    # the hash is not the lower-case hex of the digest; the next prev_hash is not a valid link value
    hash_ok = {("HASH_MISMATCH", 2), ("FORMAT_ERROR", 2)} & set(found)
    # one finding per code (spec section 7): a FORMAT_ERROR already reported at 2 covers record 3's
    link_ok = {("FORMAT_ERROR", 2), ("FORMAT_ERROR", 3), ("CHAIN_BROKEN", 3)} & set(found)
    assert hash_ok and link_ok, (
        "record 2's hash and record 3's prev_hash are the right digest in upper-case hex (signatures valid, "
        f"checkpoint re-sealed): expected HASH_MISMATCH or FORMAT_ERROR at 2 and, for record 3, CHAIN_BROKEN at 3 "
        f"or a FORMAT_ERROR at 2 or 3; the verifier reported {found}"
    )


# -- the store verifier (seed 001's verifyTool) against ranges deleted after they were archived ------------
class _MemorySink:
    """Archive objects kept in memory (the check needs their checkpoints in the store's index, not S3)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def uri(self, key: str) -> str:
        return f"memory://{key}"

    def put_new(self, key: str, body: Any, *, size: int, sha256: bytes, metadata: dict[str, str]) -> Any:
        from pytest_kmsconform.reference_impl.audit.archiver import ObjectExists, StoredObject

        if key in self.objects:
            raise ObjectExists(f"{self.uri(key)} exists")
        self.objects[key] = body.read()
        return StoredObject(self.uri(key), None)

    def open(self, key: str) -> Any:
        import io

        return io.BytesIO(self.objects[key])


def _archived_store(alg: Algorithm, path: Path) -> tuple[str, dict[str, Any], Any]:
    """30 records in kmsconform's SQLite schema, archived in three checkpointed segments of 10."""
    import sqlite3

    from pytest_kmsconform.reference_impl.audit import SqliteAuditStore
    from pytest_kmsconform.reference_impl.audit.archiver import archive_next
    from pytest_kmsconform.reference_impl.audit.database import open_database

    key = sup.ReferenceKey.create(alg, "archived")
    with SqliteAuditStore(path, key.signer) as store:
        for i in range(30):
            store.append({"type": "approval", "n": i, "actor": "kmsconform"})
    with open_database(str(path), readonly=False) as db:
        for _ in range(3):
            archive_next(db, _MemorySink(), key.signer, limit=10, producer="kmsconform suite")

    def delete(low: int, high: int) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM audit_records WHERE seq >= ? AND seq < ?", (low, high))

    return str(path), key.signer.jwks(), delete


@pytest.mark.kmsconform_check(
    id="KC-AUD-022",
    title="Rows deleted from the store after they were archived are reported by the store verifier",
    source=(
        "seed 001 (Archive audits: archiver; Verify audits: DATABASE_URL=... verifyTool --limit=100); "
        "docs/spec.md section 6a (archive index, anchored windows)"
    ),
    requires=[Capability.DB_VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["CHAIN_INTEGRITY"],
)
def test_archived_then_deleted_range(
    kmsconform_target: Target, kmsconform_impl: Implementation, tmp_path: Path
) -> None:
    assert kmsconform_target.alg is not None
    url, jwks, delete = _archived_store(kmsconform_target.alg, tmp_path / "audit.db")
    intact = codes_and_indexes(kmsconform_impl.verify_database(url, jwks))
    assert intact == [], f"findings on an intact, archived store: {intact}"
    # The newest archived rows go: the chain that is left is whole, only the signed checkpoint of
    # seq 20..29 says they existed (the archiver's pruning done wrong, or a cover-up).
    delete(25, 30)
    for limit in (None, 3):
        found = codes_and_indexes(kmsconform_impl.verify_database(url, jwks, limit=limit))
        hits = [f for f in found if f[0] in ("TRUNCATED", "CHAIN_BROKEN") and f[1] is not None and 20 <= f[1] <= 25]
        assert hits, f"rows 25..29 archived then deleted; verify_database(limit={limit}) reported {found}"
    # An archived range in the middle.
    delete(10, 15)
    found = codes_and_indexes(kmsconform_impl.verify_database(url, jwks))
    assert any(f[1] is not None and 10 <= f[1] <= 15 for f in found), f"rows 10..14 deleted; reported {found}"
