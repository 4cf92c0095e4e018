"""``kmsconform keygen`` and ``kmsconform verify-archive``, run as processes."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit import SqliteAuditStore, export_archive
from pytest_kmsconform.reference_impl.config import signer_from_env
from pytest_kmsconform.reference_impl.verifier import Verifier

from pytest_kmsconform import PRODUCER

CLI = [sys.executable, "-c", "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"]


def kmsconform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("alg", [a for a in Algorithm if not a.is_symmetric], ids=str)
def test_keygen_asymmetric(tmp_path: Path, alg: Algorithm) -> None:
    prefix = tmp_path / "dev-key"
    proc = kmsconform("keygen", "--alg", alg.value, "--out", str(prefix), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o600
    private_pem = prefix.read_text()
    assert "PRIVATE KEY" in private_pem and "PRIVATE KEY" not in proc.stdout
    assert f'AUDIT_SIGNING_PRIVATE_KEY="$(cat {prefix})"' in proc.stdout
    assert f"AUDIT_SIGNING_ALG={alg.value}" in proc.stdout
    serialization.load_pem_public_key(Path(f"{prefix}.pub").read_bytes())
    jwks = json.loads(Path(f"{prefix}.jwks.json").read_text())
    # the printed env lines give a signer whose signatures verify with the written key set
    signer = signer_from_env({"AUDIT_SIGNING_PRIVATE_KEY": private_pem, "AUDIT_SIGNING_ALG": alg.value})
    digest = hashlib.sha256(b"keygen").digest()
    Verifier(jwks).verify_signature(digest, signer.sign_digest(digest))


def test_keygen_hmac(tmp_path: Path) -> None:
    prefix = tmp_path / "secret"
    proc = kmsconform("keygen", "--alg", "hmac-sha256", "--out", str(prefix), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o600
    assert len(prefix.read_text()) == 64 and prefix.read_text() not in proc.stdout
    assert f'AUDIT_SIGNING_SECRET="$(cat {prefix})"' in proc.stdout
    assert not Path(f"{prefix}.pub").exists()


def test_keygen_refuses_a_git_work_tree_and_overwrites(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / ".git").mkdir()
    proc = kmsconform("keygen", "--alg", "ed25519", "--out", str(repo / "sub" / "k"), cwd=tmp_path)
    assert proc.returncode == 2 and "git work tree" in proc.stderr
    assert list((repo / "sub").iterdir()) == []
    (tmp_path / "k").write_text("existing")
    proc = kmsconform("keygen", "--alg", "ed25519", "--out", str(tmp_path / "k"), cwd=tmp_path)
    assert proc.returncode == 2 and "overwrite" in proc.stderr
    assert (tmp_path / "k").read_text() == "existing"
    assert kmsconform("keygen", "--alg", "dsa", "--out", str(tmp_path / "z"), cwd=tmp_path).returncode == 2


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path]:
    env = {"AUDIT_SIGNING_PRIVATE_KEY": _pem(), "AUDIT_SIGNING_ALG": "ed25519"}
    signer = signer_from_env(env)
    with SqliteAuditStore(tmp_path / "a.db", signer) as store:
        for i in range(5):
            store.append({"i": i})
        export_archive(store, tmp_path / "a.jsonl", signer, producer=PRODUCER)
    (tmp_path / "keys.json").write_text(json.dumps(signer.jwks()))
    return tmp_path / "a.jsonl", tmp_path / "keys.json"


def _pem() -> str:
    from pytest_kmsconform.reference_impl.jwk import private_key_pem
    from pytest_kmsconform.reference_impl.primitives import generate_private_key

    return private_key_pem(generate_private_key(Algorithm.ED25519)).decode()


def test_verify_archive_clean(exported: tuple[Path, Path], tmp_path: Path) -> None:
    archive, keys = exported
    proc = kmsconform("verify-archive", str(archive), "--keys", str(keys), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OK, no findings" in proc.stdout
    proc = kmsconform("verify-archive", str(archive), "--keys", str(keys), "--json", "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"archive": str(archive), "ok": True, "findings": []}


def test_verify_archive_findings(exported: tuple[Path, Path], tmp_path: Path) -> None:
    archive, keys = exported
    lines = archive.read_text().splitlines()
    lines[3] = lines[3].replace('"i":2', '"i":3')
    archive.write_text("\n".join(lines) + "\n")
    proc = kmsconform("verify-archive", str(archive), "--keys", str(keys), cwd=tmp_path)
    assert proc.returncode == 1
    assert "HASH_MISMATCH at record 2" in proc.stdout
    proc = kmsconform("verify-archive", str(archive), "--keys", str(keys), "--json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["ok"] is False
    assert {"code": "HASH_MISMATCH", "index": 2} in [{k: f[k] for k in ("code", "index")} for f in report["findings"]]


def test_verify_archive_usage_errors(exported: tuple[Path, Path], tmp_path: Path) -> None:
    archive, keys = exported
    assert kmsconform("verify-archive", str(archive), cwd=tmp_path).returncode == 2  # no --keys
    assert kmsconform("verify-archive", "missing.jsonl", "--keys", str(keys), cwd=tmp_path).returncode == 2
    (tmp_path / "bad.json").write_text('{"keys": [{"kid": "k", "kty": "oct", "k": "AAAA", "alg": "hmac-sha256"}]}')
    proc = kmsconform("verify-archive", str(archive), "--keys", str(tmp_path / "bad.json"), cwd=tmp_path)
    assert proc.returncode == 2 and "symmetric" in proc.stderr
    (tmp_path / "notjson.json").write_text("{")
    assert (
        kmsconform("verify-archive", str(archive), "--keys", str(tmp_path / "notjson.json"), cwd=tmp_path).returncode
        == 2
    )
    assert (
        kmsconform("verify-archive", str(archive), "--keys", str(keys), "--workers", "0", cwd=tmp_path).returncode == 2
    )


def test_verify_archive_hmac_secret(tmp_path: Path) -> None:
    signer = signer_from_env({"AUDIT_SIGNING_SECRET": "ci-secret"})
    with SqliteAuditStore(tmp_path / "a.db", signer) as store:
        store.append({"i": 1})
        export_archive(store, tmp_path / "a.jsonl", signer, producer=PRODUCER)
    (tmp_path / "keys.json").write_text('{"keys": []}')
    (tmp_path / "secret").write_text("ci-secret\n")
    base = ["verify-archive", str(tmp_path / "a.jsonl"), "--keys", str(tmp_path / "keys.json")]
    assert kmsconform(*base, cwd=tmp_path).returncode == 1
    proc = kmsconform(*base, "--hmac-secret", f"{signer.kid}={tmp_path / 'secret'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
