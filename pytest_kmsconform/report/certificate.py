"""``certificate.json``: a signed statement that an implementation passed every applicable check.

Format (see ``docs/certificate.md``): a JWS in flattened JSON serialization (RFC 7515 section
7.2.2), ``alg`` ``Ed25519`` (RFC 9864; RFC 8037's ``EdDSA`` with an Ed25519 key), ``kid`` the RFC 7638 thumbprint of the
public key. The payload is the RFC 8785 canonical JSON of the statement; the statement's
``results_digest`` is ``sha256:`` + hex SHA-256 of the RFC 8785 canonical form of ``report.json``,
so whitespace changes to the report do not matter and any change of content does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pytest_kmsconform import __version__
from pytest_kmsconform.reference_impl.canonical import canonicalize_payload
from pytest_kmsconform.reference_impl.errors import ArchiveFormatError, CanonicalizationError
from pytest_kmsconform.reference_impl.signature import b64url_decode, b64url_encode
from pytest_kmsconform.results import CheckResult, Outcome, RunResult

from . import summary
from .errors import CertificateInvalid, KeyFileError, NotCertifiable, VerifyFailure

STATEMENT_TYPE = "kmsconform-conformance-certificate"
STATEMENT_FORMAT = 1
JWS_TYP = "kmsconform-cert+jws"
JWS_ALG = "Ed25519"
"""RFC 9864's fully-specified name; ``EdDSA`` (RFC 8037, deprecated by RFC 9864) is accepted when verifying."""
ACCEPTED_ALGS = frozenset({JWS_ALG, "EdDSA"})
_JWS_MEMBERS = {"protected", "payload", "signature"}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
ED25519_SIGNATURE_SIZE = 64


def sha256_tag(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def results_digest(report_document: Any) -> str:
    """``sha256:<hex>`` of the RFC 8785 canonical form of a parsed ``report.json``."""
    try:
        return sha256_tag(canonicalize_payload(report_document))
    except CanonicalizationError as exc:
        raise CertificateInvalid(f"report cannot be canonicalized: {exc}", VerifyFailure.REPORT_MISMATCH) from None


def catalogue_of(checks: list[CheckResult]) -> list[dict[str, str]]:
    """The distinct (id, title, source) triples of a run, sorted by id."""
    entries = {(c.check_id, c.title, c.source) for c in checks}
    return [{"id": i, "title": t, "source": s} for i, t, s in sorted(entries)]


def catalogue_digest(run: RunResult) -> tuple[str, str]:
    """``(digest, basis)``: the plugin's catalogue digest when the run carries one (basis
    ``catalogue``), else the digest of the check set the run executed (basis ``run``)."""
    if run.catalogue_digest:
        return run.catalogue_digest, "catalogue"
    return sha256_tag(canonicalize_payload(catalogue_of(list(run.checks)))), "run"


def instance_label(check: CheckResult) -> str:
    """``KC-ROT-001@local/ed25519``; a backend-free instance with its own parameters names them
    (``KC-GRD-001@(none)[production-true-kms]``), so every instance has its own label."""
    where = check.backend or summary.NO_BACKEND
    if check.alg:
        return f"{check.check_id}@{where}/{check.alg}"
    _, bracket, param = check.nodeid.partition("[")
    return f"{check.check_id}@{where}" + (f"[{param}" if bracket else "")


def _ids(checks: list[CheckResult]) -> str:
    """Every instance, sorted: a refusal names all that stood in the way, not a sample."""
    return ", ".join(sorted({instance_label(c) for c in checks}))


def refusal_reasons(run: RunResult) -> list[str]:
    """Why ``run`` does not qualify (empty when it does). Skips disqualify: a check that did not
    run is not a check that passed."""
    reasons = []
    by_outcome: dict[Outcome, list[CheckResult]] = {o: [] for o in Outcome}
    for check in run.checks:
        by_outcome[check.outcome].append(check)
    for outcome, word in ((Outcome.FAILED, "failed"), (Outcome.ERROR, "ended in error"), (Outcome.SKIPPED, "skipped")):
        if by_outcome[outcome]:
            reasons.append(f"{len(by_outcome[outcome])} check instance(s) {word}: {_ids(by_outcome[outcome])}")
    for backend in summary.skipped_backends(run.backends):
        reasons.append(f"backend {backend.name} did not run ({backend.reason or 'no reason given'})")
    if not summary.started_backends(run.backends):
        reasons.append("no backend ran")
    if not by_outcome[Outcome.PASSED]:
        reasons.append("no check passed")
    return reasons


def statement(run: RunResult, report_document: Mapping[str, Any], issued_at: dt.datetime) -> dict[str, Any]:
    """The certificate's claims about ``run``, whose report is ``report_document``."""
    digest, basis = catalogue_digest(run)
    totals = summary.tally(run.checks)
    not_applicable = sorted({(c.check_id, c.backend, c.alg) for c in run.checks if c.outcome is Outcome.NOT_APPLICABLE})
    return {
        "type": STATEMENT_TYPE,
        "statement_format": STATEMENT_FORMAT,
        "issued_at": issued_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": {"name": "pytest-kmsconform", "version": __version__},
        "suite_version": run.suite_version,
        "catalogue_digest": digest,
        "catalogue_digest_basis": basis,
        "implementation": {"name": run.implementation, "version": run.implementation_version},
        "backends": [{"name": b.name, "version": b.version} for b in summary.started_backends(run.backends)],
        "run": {"started_at": run.started_at, "finished_at": run.finished_at},
        "counts": {"applicable": totals.applicable, "passed": totals.passed, "not_applicable": totals.not_applicable},
        "results_digest": results_digest(report_document),
        "not_applicable": [{"check_id": i, "backend": b, "alg": a} for i, b, a in not_applicable],
    }


def key_id(public_key: ed25519.Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    return b64url_encode(hashlib.sha256(canonicalize_payload(members)).digest())


def issue(
    run: RunResult,
    report_document: Mapping[str, Any],
    private_key: ed25519.Ed25519PrivateKey,
    issued_at: dt.datetime,
) -> dict[str, str]:
    """Sign a certificate for ``run``.

    :raises NotCertifiable: listing every reason when some applicable check did not pass.
    """
    reasons = refusal_reasons(run)
    if reasons:
        raise NotCertifiable(reasons)
    header = {"alg": JWS_ALG, "typ": JWS_TYP, "kid": key_id(private_key.public_key())}
    protected = b64url_encode(canonicalize_payload(header))
    payload = b64url_encode(canonicalize_payload(statement(run, report_document, issued_at)))
    signature = private_key.sign(f"{protected}.{payload}".encode("ascii"))
    return {"protected": protected, "payload": payload, "signature": b64url_encode(signature)}


def _malformed(message: str) -> CertificateInvalid:
    return CertificateInvalid(message, VerifyFailure.MALFORMED)


def _decode_json_member(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, str):
        raise _malformed(f"certificate member {what!r} must be a base64url string")
    try:
        decoded = json.loads(b64url_decode(value))
    except (ArchiveFormatError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _malformed(f"certificate member {what!r} is not base64url JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise _malformed(f"certificate member {what!r} must decode to a JSON object")
    return decoded


def verify(
    certificate: Any,
    public_key: ed25519.Ed25519PublicKey,
    report_document: Any | None = None,
) -> dict[str, Any]:
    """Check the signature (and, given a parsed ``report.json``, that it is the certified one);
    return the statement.

    :raises CertificateInvalid: with ``failure`` MALFORMED, BAD_SIGNATURE or REPORT_MISMATCH.
    """
    if not isinstance(certificate, dict) or set(certificate) != _JWS_MEMBERS:
        raise _malformed("a certificate is a JSON object with exactly 'protected', 'payload' and 'signature'")
    header = _decode_json_member(certificate["protected"], "protected")
    if header.get("alg") not in ACCEPTED_ALGS or header.get("typ") != JWS_TYP:
        raise _malformed(f"unsupported JWS header {header!r}; expected alg {JWS_ALG} and typ {JWS_TYP}")
    if not isinstance(certificate["signature"], str) or not _B64URL.fullmatch(certificate["signature"]):
        raise _malformed("certificate signature is not a base64url string")
    signature = b64url_decode(certificate["signature"])
    if len(signature) != ED25519_SIGNATURE_SIZE:
        raise _malformed(f"an Ed25519 signature is {ED25519_SIGNATURE_SIZE} bytes, got {len(signature)}")
    signing_input = f"{certificate['protected']}.{certificate['payload']}".encode("ascii", errors="replace")
    try:
        public_key.verify(signature, signing_input)
    except CryptoInvalidSignature:
        expected = key_id(public_key)
        hint = (
            "" if header.get("kid") == expected else f" (certificate kid {header.get('kid')!r}, key kid {expected!r})"
        )
        raise CertificateInvalid(
            "signature does not verify with this key: the certificate was altered or signed by another key" + hint,
            VerifyFailure.BAD_SIGNATURE,
        ) from None
    claims = _decode_json_member(certificate["payload"], "payload")
    if claims.get("type") != STATEMENT_TYPE or claims.get("statement_format") != STATEMENT_FORMAT:
        raise _malformed(f"payload is not a {STATEMENT_TYPE} statement, format {STATEMENT_FORMAT}")
    if report_document is not None:
        actual = results_digest(report_document)
        if actual != claims.get("results_digest"):
            raise CertificateInvalid(
                f"report does not match the certificate: results digest {actual}, certified "
                f"{claims.get('results_digest')}",
                VerifyFailure.REPORT_MISMATCH,
            )
    return claims


def load_private_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """An unencrypted Ed25519 private key in PKCS#8 PEM (what ``kmsconform keygen`` writes)."""
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{path}: encrypted private keys are not supported; export it unencrypted") from None
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path}: certificates are signed with Ed25519; this is a {type(key).__name__}")
    return key


def load_public_key(path: Path) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key in PEM (SubjectPublicKeyInfo), e.g. ``PREFIX.pub`` from keygen."""
    data = _read(path)
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{path}: this is a private key; verify with the public key (the .pub file)")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyFileError(f"{path}: certificates are verified with Ed25519; this is a {type(key).__name__}")
    return key


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from None


def write(certificate: Mapping[str, str], path: Path) -> Path:
    path.write_text(json.dumps(dict(certificate), indent=2) + "\n", encoding="utf-8")
    return path
