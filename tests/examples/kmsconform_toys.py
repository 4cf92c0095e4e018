"""Toy implementations for the plugin's own tests: one correct, several deliberately broken.

The correct toy is written independently of the reference adapter (its own key ring, verifier,
JSON-lines audit log, guard and multisig counting) on top of the contract's primitives; it offers
``ed25519`` and ``hmac-sha256`` on the ``local`` and ``mock`` backends. Each broken toy changes one
behaviour, and the plugin's tests assert that exactly the checks about that behaviour fail.

Use: ``pytest --kmsconform --kmsconform-impl=kmsconform_toys:Correct --kmsconform-backend=local,mock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import socket
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload, loads_canonical
from pytest_kmsconform.reference_impl.clock import format_time, parse_time
from pytest_kmsconform.reference_impl.errors import InvalidDigest
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key, public_key_to_jwk
from pytest_kmsconform.reference_impl.multisig import manifest_digest
from pytest_kmsconform.reference_impl.primitives import verify_digest
from pytest_kmsconform.reference_impl.signature import Signature

from pytest_kmsconform.adapter import ImplAuditLog, ImplementationBase, ImplMultisig, ImplSigner, ServiceHandle
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.key_backends import kms_client_for


class ToyError(Exception):
    """Every refusal of the toy implementation."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ToyKey:
    kid: str
    alg: Algorithm
    private: ed25519.Ed25519PrivateKey | None
    secret: bytes | None
    status: str = "active"
    created_at: datetime = field(default_factory=_now)
    not_before: datetime | None = field(default_factory=_now)
    not_after: datetime | None = None
    revoked_at: datetime | None = None

    def jwk(self) -> dict[str, Any] | None:
        if self.private is None:
            return None
        member: dict[str, Any] = public_key_to_jwk(self.private.public_key())
        member.update({"kid": self.kid, "alg": self.alg.value, "use": "sig", "status": self.status})
        for name in ("created_at", "not_before", "not_after", "revoked_at"):
            value = getattr(self, name)
            if value is not None:
                member[name] = format_time(value)
        return member


class ToySigner:
    """Keys in memory; ``ed25519`` or ``hmac-sha256``."""

    def __init__(self, alg: Algorithm, label: str, backend: str) -> None:
        self._alg, self.label, self._backend = alg, label, backend
        self.keys: list[ToyKey] = []
        self.sinks: list[Any] = []
        self._new_key()

    def _new_key(self) -> ToyKey:
        kid = f"{self.label}-toy{len(self.keys) + 1}"
        if self._alg is Algorithm.ED25519:
            key = ToyKey(kid, self._alg, ed25519.Ed25519PrivateKey.generate(), None)
        else:
            key = ToyKey(kid, self._alg, None, secrets.token_bytes(32))
        self.keys.append(key)
        return key

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def alg(self) -> Algorithm:
        return self._alg

    def _active(self) -> ToyKey:
        for key in reversed(self.keys):
            if key.status == "active":
                return key
        raise ToyError("no active key")

    @property
    def kid(self) -> str:
        return self._active().kid

    def _key(self, kid: str) -> ToyKey:
        for key in self.keys:
            if key.kid == kid:
                return key
        raise ToyError(f"unknown kid {kid}")

    def sign_digest(self, digest: bytes) -> Signature:
        if len(digest) != 32:
            raise ToyError("an audit digest is 32 bytes")
        key = self._active()
        if key.private is not None:
            return Signature(key.kid, key.alg, key.private.sign(digest))
        assert key.secret is not None
        return Signature(key.kid, key.alg, hmac.new(key.secret, digest, hashlib.sha256).digest())

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        key = self._key(signature.kid)
        if signature.alg is not key.alg or key.status == "revoked":
            raise ToyError("wrong alg or revoked key")
        if key.private is not None:
            verify_digest(key.alg, key.private.public_key(), digest, signature.value)
        elif not hmac.compare_digest(hmac.new(key.secret or b"", digest, hashlib.sha256).digest(), signature.value):
            raise ToyError("bad mac")

    def jwks(self) -> dict[str, Any]:
        return {"keys": [m for k in self.keys if (m := k.jwk()) is not None]}

    def _emit(self, kind: str, kid: str) -> None:
        for sink in list(self.sinks):
            sink({"type": f"key.{kind}", "kid": kid})

    def rotate(self) -> str:
        old = self._active()
        now = _now()
        old.status, old.not_after = "retired", now
        new = self._new_key()
        self._emit("rotated", new.kid)
        return new.kid

    def revoke(self, kid: str, reason: str) -> None:
        key = self._key(kid)
        key.status, key.revoked_at = "revoked", _now()
        with contextlib.suppress(ToyError):  # with no active key left, the event cannot be signed
            self._emit("revoked", kid)

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class ToyFinding:
    code: str
    index: int | None


class ToyVerifier:
    """Verifies from a JWKS only; archives line by line."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self.members = {m["kid"]: m for m in jwks.get("keys", [])}

    def verify_signature(self, digest: bytes, signature: Signature, *, at: datetime | None = None) -> None:
        member = self.members.get(signature.kid)
        if member is None:
            raise ToyError("unknown key")
        if member.get("alg") != signature.alg.value:
            raise ToyError("alg mismatch")
        when = at or _now()
        if member.get("revoked_at") and when >= parse_time(member["revoked_at"]):
            raise ToyError("revoked")
        if member.get("not_after") and when > parse_time(member["not_after"]):
            raise ToyError("expired")
        verify_digest(signature.alg, jwk_to_public_key(member), digest, signature.value)

    def _code(self, digest: bytes, signature: Signature, at: datetime) -> str | None:
        if signature.kid not in self.members:
            return "UNKNOWN_KEY"
        try:
            self.verify_signature(digest, signature, at=at)
        except Exception:  # any rejection of a record signature
            return "BAD_SIGNATURE"
        return None

    def verify_archive(self, path: Path) -> list[ToyFinding]:
        raw = [line for line in Path(path).read_bytes().splitlines() if line.strip()]
        lines = [loads_canonical(line) for line in raw]  # numbers as I-JSON doubles (1e16 is not an int)
        records, checkpoint = lines[1:-1], lines[-1].get("checkpoint", {})
        found: list[ToyFinding] = []
        prev: str | None = None
        body = b""
        for i, rec in enumerate(records):
            body += raw[i + 1] + b"\n"  # the bytes as read: re-formatting is tampering too
            if rec["prev_hash"] != prev or rec["seq"] != i:
                found.append(ToyFinding("CHAIN_BROKEN", i))
            try:
                digest = audit_digest(canonicalize_payload(rec["payload"]), rec["prev_hash"]).hex()
            except InvalidDigest:  # a prev_hash that is not 64 lower-case hex characters
                found.append(ToyFinding("FORMAT_ERROR", i))
                prev = rec["hash"]
                continue
            if digest != rec["hash"]:
                found.append(ToyFinding("HASH_MISMATCH", i))
            else:
                code = self._code(bytes.fromhex(digest), Signature.from_json(rec["signature"]), parse_time(rec["ts"]))
                if code is not None:
                    found.append(ToyFinding(code, i))
            prev = rec["hash"]
        if checkpoint.get("count", 0) > len(records):
            found.append(ToyFinding("TRUNCATED", len(records)))
        if checkpoint.get("records_sha256") != hashlib.sha256(body).hexdigest():
            found.append(ToyFinding("ARCHIVE_DIGEST_MISMATCH", None))
        return found


class ToyAuditLog:
    """Records as JSON lines in one file, appended under an exclusive ``flock``."""

    def __init__(self, signer: ImplSigner, path: Path) -> None:
        self.signer, self.path = signer, Path(path)
        self.path.touch()
        self._sinks: list[Any] | None = getattr(signer, "sinks", None)
        if self._sinks is not None:
            self._sinks.append(self.append)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        with open(self.path, "r+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield fh
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read(self, fh: Any) -> list[dict[str, Any]]:
        fh.seek(0)
        return [json.loads(line) for line in fh.read().splitlines() if line.strip()]

    def _record(self, records: list[dict[str, Any]], payload: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
        prev = records[-1]["hash"] if records else None
        digest = audit_digest(canonicalize_payload(dict(payload)), prev).hex()
        rec = {
            "seq": len(records),
            "ts": format_time(_now()),
            "payload": dict(payload),
            "prev_hash": prev,
            "hash": digest,
        }
        return rec, bytes.fromhex(digest)

    def append(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        with self._locked() as fh:
            rec, digest = self._record(self._read(fh), payload)
            rec["signature"] = self.signer.sign_digest(digest).to_json()  # sign, then commit
            fh.seek(0, os.SEEK_END)
            fh.write(json.dumps(rec).encode() + b"\n")
            fh.flush()
        return rec

    def records(self) -> Sequence[Mapping[str, Any]]:
        with self._locked() as fh:
            return self._read(fh)

    def export_archive(self, dest: Path) -> None:
        records = list(self.records())
        body = b"".join(canonicalize_payload(r) + b"\n" for r in records)
        created = format_time(_now())
        cp = {
            "count": len(records),
            "created_at": created,
            "head_hash": records[-1]["hash"] if records else None,
            "records_sha256": hashlib.sha256(body).hexdigest(),
        }
        cp["signature"] = self.signer.sign_digest(hashlib.sha256(canonicalize_payload(cp)).digest()).to_json()
        header = {"created_at": created, "format": "kmsconform-audit-archive/1", "producer": "toy"}
        Path(dest).write_bytes(
            canonicalize_payload(header) + b"\n" + body + canonicalize_payload({"checkpoint": cp}) + b"\n"
        )

    def close(self) -> None:
        if self._sinks is not None and self.append in self._sinks:
            self._sinks.remove(self.append)


class ToyService:
    def close(self) -> None:
        """Nothing runs."""


STRONG_VARIABLES = ("AUDIT_SIGNING_KMS_KEY_ID", "SIGNING_PROXY_URL")
WEAK_VARIABLES = ("AUDIT_SIGNING_PRIVATE_KEY", "AUDIT_SIGNING_SECRET", "AUDIT_SIGNING_KEY", "MOCK_AUDIT_SIGNING_KEY")


def is_strict(env: Mapping[str, str]) -> bool:
    production = env.get("NODE_ENV", "").strip().lower() == "production"
    return production or env.get("REQUIRE_KMS", "").strip().lower() in ("true", "1", "yes", "on")


class ToyMultisig:
    def __init__(self, make_verifier: Any) -> None:
        self.make_verifier = make_verifier

    def verify_manifest(self, manifest: Mapping[str, Any], jwks: Mapping[str, Any]) -> Sequence[str]:
        digest = manifest_digest(manifest["payload"], manifest["threshold"], manifest["signers"])
        verifier = self.make_verifier(jwks)
        counted: list[str] = []
        for entry in manifest["signatures"]:
            sig = Signature.from_json(entry)
            if sig.kid not in manifest["signers"] or sig.kid in counted:
                continue
            try:
                verifier.verify_signature(digest, sig)
            except Exception:  # an invalid signature does not count
                continue
            counted.append(sig.kid)
        if len(counted) < manifest["threshold"]:
            raise ToyError(f"{len(counted)} of {manifest['threshold']} signatures")
        return counted


class Correct(ImplementationBase):
    name = "toy"
    version = "1"

    def capabilities(self) -> Capabilities:
        features = {
            Capability.SIGN,
            Capability.VERIFIER,
            Capability.ROTATION,
            Capability.REVOCATION,
            Capability.AUDIT_LOG,
            Capability.GUARD,
            Capability.MULTISIG,
        }
        return Capabilities.of(features, algorithms=["ed25519", "hmac-sha256"], backends=["local", "mock"])

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        return ToySigner(alg, label, handle.kind)

    def verifier(self, jwks: Mapping[str, Any]) -> Any:
        return ToyVerifier(jwks)

    def audit_log(self, signer: ImplSigner, path: Path) -> ImplAuditLog:
        return ToyAuditLog(signer, path)

    def start_service(self, env: Mapping[str, str]) -> ServiceHandle:
        strong = any(env.get(v, "").strip() for v in STRONG_VARIABLES)
        if is_strict(env) and not strong:
            raise ToyError("Audit signing is required: configure AUDIT_SIGNING_KMS_KEY_ID or SIGNING_PROXY_URL")
        return ToyService()

    def multisig(self) -> ImplMultisig:
        return ToyMultisig(self.verifier)


# -- broken variants: each changes one behaviour ------------------------------------------------
class IgnoresRevocationSigner(ToySigner):
    def _active(self) -> ToyKey:
        for key in reversed(self.keys):
            if key.status in ("active", "revoked"):
                return key
        raise ToyError("no active key")


class IgnoresRevocation(Correct):
    """The signer marks the key revoked in the JWKS but keeps signing with it."""

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        return IgnoresRevocationSigner(alg, label, handle.kind)


class AcceptAnyVerifier(ToyVerifier):
    def verify_signature(self, digest: bytes, signature: Signature, *, at: datetime | None = None) -> None:
        """Accepts everything."""


class AcceptsAnySignature(Correct):
    """The verifier never rejects a signature."""

    def verifier(self, jwks: Mapping[str, Any]) -> Any:
        return AcceptAnyVerifier(jwks)


class CommitBeforeSignLog(ToyAuditLog):
    def append(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        with self._locked() as fh:
            rec, digest = self._record(self._read(fh), payload)
            fh.seek(0, os.SEEK_END)
            line_start = fh.tell()
            rec["signature"] = {"kid": "pending", "alg": self.signer.alg.value, "sig": ""}
            fh.write(json.dumps(rec).encode() + b"\n")  # committed before signing
            fh.flush()
            rec["signature"] = self.signer.sign_digest(digest).to_json()
            fh.truncate(line_start)
            fh.seek(line_start)
            fh.write(json.dumps(rec).encode() + b"\n")
            fh.flush()
        return rec


class CommitsBeforeSigning(Correct):
    """The audit log writes the record first and signs it afterwards."""

    def audit_log(self, signer: ImplSigner, path: Path) -> ImplAuditLog:
        return CommitBeforeSignLog(signer, path)


class MockInProduction(Correct):
    """The guard treats the mock signer as good enough for production."""

    def start_service(self, env: Mapping[str, str]) -> ServiceHandle:
        if env.get("MOCK_AUDIT_SIGNING_KEY"):
            return ToyService()
        return super().start_service(env)


class LeakySigner(ToySigner):
    def jwks(self) -> dict[str, Any]:
        jwks = super().jwks()
        for key in self.keys:
            if key.secret is not None:
                secret = key.secret.hex()
                jwks["keys"].append({"kty": "oct", "kid": key.kid, "alg": key.alg.value, "k": secret})
        return jwks


class LeaksHmacInJwks(Correct):
    """The key set publishes HMAC secrets as ``oct`` keys."""

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        return LeakySigner(alg, label, handle.kind)


class PhoneHomeVerifier(ToyVerifier):
    def verify_signature(self, digest: bytes, signature: Signature, *, at: datetime | None = None) -> None:
        with contextlib.suppress(OSError):  # "fetches a revocation list" (loopback only), ignores failures
            socket.create_connection(("127.0.0.1", 9), timeout=0.2).close()
        super().verify_signature(digest, signature, at=at)


class PhonesHome(Correct):
    """The verifier contacts a revocation-list server (and swallows the failure)."""

    def verifier(self, jwks: Mapping[str, Any]) -> Any:
        return PhoneHomeVerifier(jwks)


class CrashingSigner(ToySigner):
    def rotate(self) -> str:
        os._exit(3)


class CrashesOnRotate(Correct):
    """The process dies when asked to rotate (to test xdist crash handling)."""

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        return CrashingSigner(alg, label, handle.kind)


class RotateRaisesSigner(ToySigner):
    def rotate(self) -> str:
        raise ToyError("rotation is not supported by this backend")


class RotationRaises(Correct):
    """Declares rotation, but rotating raises: every rotation check fails (not an error)."""

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        return RotateRaisesSigner(alg, label, handle.kind)


# -- envelope persistence (seed 004): a toy store of its own, then two broken variants -----------
ENVELOPE_TABLE = """CREATE TABLE IF NOT EXISTS enclave_master_keys (
    enclave_id INTEGER PRIMARY KEY, kms_encrypted_dek BLOB NOT NULL, encrypted_private_key BLOB NOT NULL,
    public_key BLOB NOT NULL, kms_key_id TEXT NOT NULL, key_epoch INTEGER DEFAULT 1)"""


class ToyEnvelopeStore:
    """Seed 004's flow: a KMS data key per record (its encryption context names the record), AES-256-GCM
    over the PKCS#8 key with the record id and KMS key ARN as associated data."""

    def __init__(self, handle: BackendHandle, path: Path, kms_key_id: str) -> None:
        self.kms = kms_client_for(handle)
        self.kms_key_id = kms_key_id
        self.path = path
        self.db = sqlite3.connect(path)
        with self.db:
            self.db.execute(ENVELOPE_TABLE)

    @staticmethod
    def _aad(record_id: int, arn: str) -> bytes:
        return json.dumps([record_id, arn]).encode()

    def seal(self, record_id: int, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        data_key = self.kms.generate_data_key(
            KeyId=self.kms_key_id, KeySpec="AES_256", EncryptionContext={"record": str(record_id)}
        )
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(data_key["Plaintext"]).encrypt(nonce, der, self._aad(record_id, data_key["KeyId"]))
        try:
            with self.db:
                self.db.execute(
                    "INSERT INTO enclave_master_keys VALUES (?, ?, ?, ?, ?, 1)",
                    (record_id, data_key["CiphertextBlob"], sealed, public, data_key["KeyId"]),
                )
        except sqlite3.IntegrityError:
            raise ToyError(f"record {record_id} exists") from None
        self.on_sealed(record_id, der)

    def on_sealed(self, record_id: int, der: bytes) -> None:
        """Hook for the broken variants."""

    def generate(self, record_id: int, alg: Algorithm) -> bytes:
        if alg is not Algorithm.ED25519:
            raise ToyError(f"the toy store generates ed25519 keys only, not {alg.value}")
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.seal(record_id, pem)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def load(self, record_id: int) -> bytes:
        row = self.db.execute(
            "SELECT kms_encrypted_dek, encrypted_private_key, kms_key_id FROM enclave_master_keys WHERE enclave_id = ?",
            (record_id,),
        ).fetchone()
        if row is None:
            raise ToyError(f"no record {record_id}")
        try:
            opened = self.kms.decrypt(CiphertextBlob=row[0], EncryptionContext={"record": str(record_id)})
        except Exception as exc:  # KMS refused: the toy's own error type
            raise ToyError(f"KMS refused the data key: {exc}") from None
        if opened["KeyId"] != row[2]:
            raise ToyError("data key sealed under another KMS key")
        try:
            der = AESGCM(opened["Plaintext"]).decrypt(row[1][:12], row[1][12:], self._aad(record_id, row[2]))
        except InvalidTag:
            raise ToyError("envelope authentication failed") from None
        key = serialization.load_der_private_key(der, password=None)
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def close(self) -> None:
        self.db.close()


class EnvelopeCorrect(Correct):
    """The correct toy plus envelope persistence on aws-kms."""

    store_class: type[ToyEnvelopeStore] = ToyEnvelopeStore

    def capabilities(self) -> Capabilities:
        base = super().capabilities()
        return Capabilities(base.features | {Capability.ENVELOPE}, base.algorithms, base.backends | {"aws-kms"})

    def envelope_store(self, handle: BackendHandle, path: Path, *, kms_key_id: str) -> ToyEnvelopeStore:
        return self.store_class(handle, path, kms_key_id)


class ForgivingEnvelopeStore(ToyEnvelopeStore):
    """Remembers every key it sealed (process-wide) and hands it out whenever opening fails."""

    remembered: dict[tuple[str, int], bytes] = {}

    def on_sealed(self, record_id: int, der: bytes) -> None:
        self.remembered[(str(self.path), record_id)] = der

    def load(self, record_id: int) -> bytes:
        try:
            return super().load(record_id)
        except ToyError:
            der = self.remembered[(str(self.path), record_id)]
            key = serialization.load_der_private_key(der, password=None)
            return key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )


class ForgivingEnvelope(EnvelopeCorrect):
    """Returns the key even when the row was tampered with or the KMS key is disabled."""

    store_class = ForgivingEnvelopeStore


class PlaintextBackupStore(ToyEnvelopeStore):
    """Seals correctly, but also keeps a "backup" of the PKCS#8 key in clear in the same database."""

    def on_sealed(self, record_id: int, der: bytes) -> None:
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS key_backup (enclave_id INTEGER, pkcs8 BLOB)")
            self.db.execute("INSERT INTO key_backup VALUES (?, ?)", (record_id, der))


class PlaintextEnvelope(EnvelopeCorrect):
    """Leaks the private key into the database file in clear."""

    store_class = PlaintextBackupStore
