"""Certificate issue/verify round trip, and every way verification must fail."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pytest_kmsconform.reference_impl.signature import b64url_decode, b64url_encode

from pytest_kmsconform.report import certificate, json_report
from pytest_kmsconform.report.errors import CertificateInvalid, KeyFileError, NotCertifiable, VerifyFailure
from pytest_kmsconform.results import Outcome, RunResult

ISSUED = dt.datetime(2026, 11, 22, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def report_doc(passing_run: RunResult, tmp_path: Path) -> dict[str, Any]:
    document, _ = json_report.load(json_report.write(passing_run, tmp_path / "report.json"))
    return document


@pytest.fixture
def cert(passing_run: RunResult, report_doc: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> dict[str, str]:
    return certificate.issue(passing_run, report_doc, key, ISSUED)


def test_round_trip_states_what_was_certified(
    cert: dict[str, str], key: ed25519.Ed25519PrivateKey, report_doc: dict[str, Any]
) -> None:
    claims = certificate.verify(cert, key.public_key(), report_doc)
    assert claims["implementation"] == {"name": "reference", "version": "0.1.0"}
    assert claims["suite_version"] == "1.0.0"
    assert claims["backends"] == [{"name": "local", "version": "in-process"}]
    assert claims["issued_at"] == "2026-11-22T12:30:00Z"
    assert claims["not_applicable"] == [{"check_id": "KC-SIG-003", "backend": "local", "alg": "hmac-sha256"}]
    assert claims["counts"] == {"applicable": 3, "passed": 3, "not_applicable": 1}
    assert claims["results_digest"] == certificate.results_digest(report_doc)
    assert claims["catalogue_digest"].startswith("sha256:") and claims["catalogue_digest_basis"] == "run"
    header = json.loads(b64url_decode(cert["protected"]))
    assert header == {"alg": "Ed25519", "typ": "kmsconform-cert+jws", "kid": certificate.key_id(key.public_key())}


def test_a_jose_library_verifies_the_certificate(cert: dict[str, str], key: ed25519.Ed25519PrivateKey) -> None:
    """Interop: joserfc (an independent JOSE implementation) verifies the flattened JWS and agrees
    on the RFC 7638 thumbprint."""
    from joserfc import jws
    from joserfc.jwk import OKPKey

    public = OKPKey.import_key(_pem_public(key))
    flattened: Any = dict(cert)  # joserfc's FlattenedJSONSerialization TypedDict
    verified = jws.deserialize_json(flattened, public, algorithms=["Ed25519"])
    assert json.loads(verified.payload) == json.loads(b64url_decode(cert["payload"]))
    assert public.thumbprint() == certificate.key_id(key.public_key())


def test_legacy_eddsa_alg_is_accepted(passing_run: RunResult, report_doc: dict[str, Any]) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    header = {"alg": "EdDSA", "typ": "kmsconform-cert+jws", "kid": certificate.key_id(key.public_key())}
    protected = b64url_encode(json.dumps(header).encode())
    payload = b64url_encode(json.dumps(certificate.statement(passing_run, report_doc, ISSUED)).encode())
    signature = b64url_encode(key.sign(f"{protected}.{payload}".encode()))
    legacy = {"protected": protected, "payload": payload, "signature": signature}
    assert certificate.verify(legacy, key.public_key(), report_doc)["suite_version"] == "1.0.0"


def test_plugin_catalogue_digest_is_used_when_present(
    passing_run: RunResult, report_doc: dict[str, Any], key: ed25519.Ed25519PrivateKey
) -> None:
    from dataclasses import replace

    run = replace(passing_run, catalogue_digest="sha256:" + "ab" * 32)
    claims = certificate.verify(certificate.issue(run, report_doc, key, ISSUED), key.public_key())
    assert claims["catalogue_digest"] == "sha256:" + "ab" * 32 and claims["catalogue_digest_basis"] == "catalogue"


def test_catalogue_digest_changes_with_a_title(passing_run: RunResult) -> None:
    from dataclasses import replace

    renamed = replace(passing_run, checks=[replace(passing_run.checks[0], title="other"), *passing_run.checks[1:]])
    assert certificate.catalogue_digest(renamed) != certificate.catalogue_digest(passing_run)


def test_report_whitespace_does_not_matter_but_content_does(
    report_doc: dict[str, Any], cert: dict[str, str], key: ed25519.Ed25519PrivateKey
) -> None:
    reparsed = json.loads(json.dumps(report_doc, separators=(",", ":")))
    certificate.verify(cert, key.public_key(), reparsed)
    reparsed["checks"][0]["duration_s"] = 0.26
    with pytest.raises(CertificateInvalid) as info:
        certificate.verify(cert, key.public_key(), reparsed)
    assert info.value.failure is VerifyFailure.REPORT_MISMATCH


def test_tampered_payload_fails_signature(cert: dict[str, str], key: ed25519.Ed25519PrivateKey) -> None:
    claims = json.loads(b64url_decode(cert["payload"]))
    claims["implementation"]["version"] = "9.9.9"
    forged = {**cert, "payload": b64url_encode(json.dumps(claims).encode())}
    with pytest.raises(CertificateInvalid) as info:
        certificate.verify(forged, key.public_key())
    assert info.value.failure is VerifyFailure.BAD_SIGNATURE


def test_wrong_key_fails_signature_and_names_both_kids(cert: dict[str, str]) -> None:
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(CertificateInvalid, match="certificate kid") as info:
        certificate.verify(cert, other)
    assert info.value.failure is VerifyFailure.BAD_SIGNATURE


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: {**c, "extra": "x"},
        lambda c: {k: v for k, v in c.items() if k != "signature"},
        lambda c: {**c, "protected": b64url_encode(b'{"alg":"none","typ":"kmsconform-cert+jws"}')},
        lambda c: {**c, "signature": "***"},
        lambda c: [c],
    ],
)
def test_malformed_certificates(cert: dict[str, str], key: ed25519.Ed25519PrivateKey, mangle: Any) -> None:
    with pytest.raises(CertificateInvalid) as info:
        certificate.verify(mangle(cert), key.public_key())
    assert info.value.failure is VerifyFailure.MALFORMED


def test_refuses_a_run_with_failures_and_says_why(
    mixed_run: RunResult, key: ed25519.Ed25519PrivateKey, tmp_path: Path
) -> None:
    document, _ = json_report.load(json_report.write(mixed_run, tmp_path / "report.json"))
    with pytest.raises(NotCertifiable) as info:
        certificate.issue(mixed_run, document, key, ISSUED)
    text = "; ".join(info.value.reasons)
    assert "1 check instance(s) failed: KC-SIG-002@local" in text
    assert "ended in error: KC-ROT-001@local" in text
    assert "skipped: KC-SIG-001@yubihsm" in text
    assert "backend yubihsm did not run (yubihsm extra missing)" in text


def test_refuses_a_run_where_nothing_passed(make_run: Any, make_check: Any) -> None:
    run = make_run([make_check("KC-1", Outcome.NOT_APPLICABLE)])
    assert certificate.refusal_reasons(run) == ["no check passed"]


def _pem_private(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_public(key: Any) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_key_files(tmp_path: Path, key: ed25519.Ed25519PrivateKey) -> None:
    (tmp_path / "k").write_bytes(_pem_private(key))
    (tmp_path / "k.pub").write_bytes(_pem_public(key))
    assert certificate.key_id(certificate.load_private_key(tmp_path / "k").public_key()) == certificate.key_id(
        certificate.load_public_key(tmp_path / "k.pub")
    )
    with pytest.raises(KeyFileError, match="private key; verify with the public key"):
        certificate.load_public_key(tmp_path / "k")
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        certificate.load_private_key(tmp_path / "k.pub")
    with pytest.raises(KeyFileError, match="cannot read"):
        certificate.load_private_key(tmp_path / "missing")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa").write_bytes(_pem_private(rsa_key))
    (tmp_path / "rsa.pub").write_bytes(_pem_public(rsa_key))
    with pytest.raises(KeyFileError, match="signed with Ed25519"):
        certificate.load_private_key(tmp_path / "rsa")
    with pytest.raises(KeyFileError, match="verified with Ed25519"):
        certificate.load_public_key(tmp_path / "rsa.pub")
