"""``kmsconform verify-cert``: exit codes for a good certificate, a tampered one, a mismatched report,
a wrong key, a malformed certificate and unusable input."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.signature import b64url_decode, b64url_encode

from pytest_kmsconform.cli import verify_cert
from pytest_kmsconform.report import certificate, write_reports
from pytest_kmsconform.results import BackendInfo, CheckResult, Outcome, RunResult


def _run() -> RunResult:
    checks = [
        CheckResult("KC-SIG-001", "sign", "seed 001", "signing", "local", alg, Outcome.PASSED, "", 0.1, f"t::a[{alg}]")
        for alg in ("ed25519", "rsa-sha256")
    ]
    checks.append(
        CheckResult(
            "KC-SIG-009",
            "hmac",
            "seed 001",
            "signing",
            "local",
            "hmac-sha256",
            Outcome.NOT_APPLICABLE,
            "not declared",
            0.0,
            "t::b",
        )
    )
    return RunResult(
        "1.0.0",
        "acme-signer",
        "2.3.4",
        "2026-11-22T12:00:00Z",
        "2026-11-22T12:00:02Z",
        [BackendInfo("local", "in-process", "started")],
        checks,
    )


def _keypair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    private, public = tmp_path / name, tmp_path / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture
def issued(tmp_path: Path) -> dict[str, Path]:
    private, public = _keypair(tmp_path, "vendor")
    paths = write_reports(_run(), tmp_path / "out", formats=["json"])
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    cert = certificate.issue(_run(), document, certificate.load_private_key(private), dt.datetime.now(dt.UTC))
    cert_path = certificate.write(cert, tmp_path / "out" / "certificate.json")
    return {"cert": cert_path, "pub": public, "report": paths["json"]}


def _verify(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser()
    verify_cert.COMMAND.add_arguments(parser)
    return verify_cert.COMMAND.run(parser.parse_args([str(a) for a in argv]))


def test_good_certificate_and_report(issued: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(issued["cert"], "--key", issued["pub"], "--report", issued["report"]) == 0
    out = capsys.readouterr().out
    assert "certificate OK" in out and "acme-signer 2.3.4" in out and "matches the results digest" in out
    assert "2/2 applicable; 1 not applicable" in out


def test_json_output_is_the_statement(issued: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(issued["cert"], "--key", issued["pub"], "--json") == 0
    claims = json.loads(capsys.readouterr().out)
    assert claims["not_applicable"] == [{"check_id": "KC-SIG-009", "backend": "local", "alg": "hmac-sha256"}]


def test_tampered_certificate(issued: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cert = json.loads(issued["cert"].read_text(encoding="utf-8"))
    claims = json.loads(b64url_decode(cert["payload"]))
    claims["counts"]["passed"] += 1
    cert["payload"] = b64url_encode(json.dumps(claims).encode())
    issued["cert"].write_text(json.dumps(cert), encoding="utf-8")
    assert _verify(issued["cert"], "--key", issued["pub"]) == verify_cert.EXIT_BAD_SIGNATURE
    assert "INVALID" in capsys.readouterr().err


def test_mismatched_report(issued: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    report = json.loads(issued["report"].read_text(encoding="utf-8"))
    report["checks"][0]["outcome"] = "passed"
    report["checks"][-1]["message"] = "edited"
    issued["report"].write_text(json.dumps(report), encoding="utf-8")
    assert _verify(issued["cert"], "--key", issued["pub"], "--report", issued["report"]) == 3
    assert "does not match" in capsys.readouterr().err


def test_report_that_is_not_json_is_a_mismatch(issued: dict[str, Path]) -> None:
    issued["report"].write_text("garbage", encoding="utf-8")
    assert _verify(issued["cert"], "--key", issued["pub"], "--report", issued["report"]) == 3


def test_wrong_key(issued: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, other = _keypair(tmp_path, "other")
    assert _verify(issued["cert"], "--key", other) == verify_cert.EXIT_BAD_SIGNATURE
    assert "key kid" in capsys.readouterr().err


def test_malformed_certificate(issued: dict[str, Path]) -> None:
    issued["cert"].write_text('{"payload": "x"}', encoding="utf-8")
    assert _verify(issued["cert"], "--key", issued["pub"]) == verify_cert.EXIT_MALFORMED
    issued["cert"].write_text("not json", encoding="utf-8")
    assert _verify(issued["cert"], "--key", issued["pub"]) == verify_cert.EXIT_MALFORMED


def test_unusable_input(issued: dict[str, Path], tmp_path: Path) -> None:
    private, _ = _keypair(tmp_path, "k")
    assert _verify(issued["cert"], "--key", private) == verify_cert.EXIT_USAGE  # a private key
    assert _verify(issued["cert"], "--key", tmp_path / "missing.pub") == verify_cert.EXIT_USAGE
    assert _verify(tmp_path / "missing.json", "--key", issued["pub"]) == verify_cert.EXIT_USAGE
