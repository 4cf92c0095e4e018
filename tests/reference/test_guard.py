"""Signer selection from the environment and the production guard."""

from __future__ import annotations

import base64
import hashlib
import itertools
import subprocess
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.config import choose_signer, signer_from_env
from pytest_kmsconform.reference_impl.errors import BackendError, BackendErrorCode, ConfigurationError, GuardError
from pytest_kmsconform.reference_impl.guard import check_startup, is_production, kms_required, start_service
from pytest_kmsconform.reference_impl.jwk import private_key_pem
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import generate_private_key
from pytest_kmsconform.reference_impl.verifier import Verifier

BACKENDS: dict[str, dict[str, str]] = {
    "none": {},
    "mock": {"MOCK_AUDIT_SIGNING_KEY": "ci-mock"},
    "local": {"AUDIT_SIGNING_KEY": "test-ci-signing-key"},
    "local-secret": {"AUDIT_SIGNING_SECRET": "s3cret", "AUDIT_SIGNING_ALG": "hmac-sha256"},
    "kms": {"AUDIT_SIGNING_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/x", "AUDIT_SIGNING_ALG": "rsa-sha256"},
    "proxy": {"SIGNING_PROXY_URL": "http://127.0.0.1:9", "SIGNING_PROXY_API_KEY": "k"},
    "vault": {"VAULT_ADDR": "http://127.0.0.1:9", "AUDIT_SIGNING_VAULT_KEY": "audit"},
    "yubihsm": {"YUBIHSM_CONNECTOR_URL": "http://127.0.0.1:9", "AUDIT_SIGNING_YUBIHSM_KEY_ID": "7"},
    "vault-incomplete": {"VAULT_ADDR": "http://127.0.0.1:9"},
    "kms+mock": {"AUDIT_SIGNING_KMS_KEY_ID": "k", "MOCK_AUDIT_SIGNING_KEY": "m"},
}
SELECTED = {
    "none": None,
    "mock": "mock",
    "local": "local",
    "local-secret": "local",
    "kms": "aws-kms",
    "proxy": "signing-proxy",
    "vault": "vault",
    "yubihsm": "yubihsm",
    "vault-incomplete": None,
    "kms+mock": "aws-kms",
}
NODE_ENV = {
    "unset": None,
    "production": "production",
    "odd-case": " Production\n",
    "development": "development",
    "prod": "prod",
    "empty": "",
}
REQUIRE_KMS = {
    "unset": None,
    "true": "true",
    "TRUE": "TRUE",
    "1": "1",
    "yes": "yes",
    "on": " On ",
    "false": "false",
    "0": "0",
    "empty": "",
}
STRICT_NODE = {"production", "odd-case"}
STRICT_KMS = {"true", "TRUE", "1", "yes", "on"}


def _env(node: str, kms: str, backend: str) -> dict[str, str]:
    env = dict(BACKENDS[backend])
    if NODE_ENV[node] is not None:
        env["NODE_ENV"] = NODE_ENV[node]  # type: ignore[assignment]
    if REQUIRE_KMS[kms] is not None:
        env["REQUIRE_KMS"] = REQUIRE_KMS[kms]  # type: ignore[assignment]
    return env


MATRIX = sorted(itertools.product(NODE_ENV, REQUIRE_KMS, BACKENDS))


@pytest.mark.parametrize(("node", "kms", "backend"), MATRIX, ids=["/".join(m) for m in MATRIX])
def test_guard_matrix(node: str, kms: str, backend: str) -> None:
    env = _env(node, kms, backend)
    strict = node in STRICT_NODE or kms in STRICT_KMS
    assert is_production(env) is (node in STRICT_NODE)
    assert kms_required(env) is (kms in STRICT_KMS)
    selected = SELECTED[backend]
    refused = strict and selected in (None, "mock", "local")
    if refused:
        with pytest.raises(GuardError) as info:
            check_startup(env)
        message = str(info.value)
        assert message.startswith("Audit signing is required")
        assert "AUDIT_SIGNING_KMS_KEY_ID" in message  # says what to set
        if backend == "vault-incomplete":
            assert "AUDIT_SIGNING_VAULT_KEY" in message
    else:
        assert check_startup(env).backend == (selected or "local")


def test_precedence() -> None:
    everything: dict[str, str] = {}
    for name in ("mock", "local", "yubihsm", "vault", "proxy", "kms"):
        everything.update(BACKENDS[name])
    choice = choose_signer(everything)
    assert choice is not None
    assert choice.backend == "aws-kms"
    assert choice.ignored == ("signing-proxy", "vault", "yubihsm", "local", "mock")
    order = ["aws-kms", "signing-proxy", "vault", "yubihsm", "local", "mock"]
    variables = {"aws-kms": "kms", "signing-proxy": "proxy", "vault": "vault", "yubihsm": "yubihsm"}
    for i, name in enumerate(order[:-2]):
        env = dict(everything)
        for earlier in order[:i]:
            for var in BACKENDS[variables[earlier]]:
                env.pop(var, None)
        assert choose_signer(env).backend == name  # type: ignore[union-attr]


def test_blank_values_count_as_unset() -> None:
    assert choose_signer({"AUDIT_SIGNING_KMS_KEY_ID": "  ", "MOCK_AUDIT_SIGNING_KEY": "m"}).backend == "mock"  # type: ignore[union-attr]
    with pytest.raises(GuardError):
        check_startup({"NODE_ENV": "production", "AUDIT_SIGNING_KMS_KEY_ID": ""})


@pytest.fixture
def fake_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Stands in for backends/aws_kms.py so no test here reaches AWS."""
    behaviour: dict[str, Any] = {"backend": "aws-kms", "error": None}

    def signer_from_env(env: Any) -> RingSigner:
        if behaviour["error"] is not None:
            raise behaviour["error"]
        backend = LocalKeyBackend(seed=b"kms")
        backend.name = behaviour["backend"]  # type: ignore[misc]
        ring = KeyRing(backend, Algorithm.ED25519, "kms")
        ring.rotate()
        return RingSigner(ring)

    module = types.ModuleType("fake_aws_kms")
    module.signer_from_env = signer_from_env  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pytest_kmsconform.reference_impl.backends.aws_kms", module)
    yield behaviour


def test_start_service_builds_the_selected_remote_signer(fake_kms: dict[str, Any]) -> None:
    signer = start_service({"NODE_ENV": "production", **BACKENDS["kms+mock"]})
    assert signer.backend == "aws-kms"


def test_start_service_refuses_a_remote_that_is_really_a_fallback(fake_kms: dict[str, Any]) -> None:
    fake_kms["backend"] = "mock"
    with pytest.raises(GuardError, match=r"^Audit signing is required"):
        start_service({"REQUIRE_KMS": "true", **BACKENDS["kms"]})


def test_start_service_remote_failure(fake_kms: dict[str, Any]) -> None:
    fake_kms["error"] = BackendError("no route", code=BackendErrorCode.UNAVAILABLE, backend="aws-kms")
    with pytest.raises(GuardError, match=r"^Audit signing is required.*could not be started: no route"):
        start_service({"NODE_ENV": "production", **BACKENDS["kms"]})
    with pytest.raises(BackendError):  # outside production: the error itself, no fallback either
        start_service(BACKENDS["kms+mock"])


def test_missing_backend_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pytest_kmsconform.reference_impl.backends.yubihsm", None)
    with pytest.raises(ConfigurationError, match="yubihsm"):
        signer_from_env(BACKENDS["yubihsm"])


def test_no_signer_outside_production_is_an_ephemeral_dev_key() -> None:
    signer = start_service({})
    assert (signer.backend, signer.alg, signer.kid) == ("local", Algorithm.ED25519, "aureus-signer-v1")
    with pytest.raises(ConfigurationError, match="no audit signer"):
        signer_from_env({})


def _sign_and_check(signer: Any) -> None:
    digest = hashlib.sha256(b"x").digest()
    sig = signer.sign_digest(digest)
    signer.verify_signature(digest, sig)
    if not signer.alg.is_symmetric:
        Verifier(signer.jwks()).verify_signature(digest, sig)


@pytest.mark.parametrize("alg", [a for a in Algorithm if not a.is_symmetric], ids=str)
def test_local_private_key_pem_and_base64_der(alg: Algorithm) -> None:
    key = generate_private_key(alg)
    pem = private_key_pem(key).decode()
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for value in (pem, base64.b64encode(der).decode()):
        signer = signer_from_env({"AUDIT_SIGNING_PRIVATE_KEY": value, "AUDIT_SIGNING_ALG": alg.value})
        assert (signer.backend, signer.alg) == ("local", alg)
        _sign_and_check(signer)
        via_key = signer_from_env({"AUDIT_SIGNING_KEY": value, "AUDIT_SIGNING_ALG": alg.value})
        assert via_key.alg is alg


def test_local_alg_is_inferred_from_the_key() -> None:
    for alg, expected in [
        (Algorithm.ED25519, Algorithm.ED25519),
        (Algorithm.RSA_PSS_SHA256, Algorithm.RSA_SHA256),
        (Algorithm.ECDSA_P256_SHA256, Algorithm.ECDSA_P256_SHA256),
    ]:
        pem = private_key_pem(generate_private_key(alg)).decode()
        assert signer_from_env({"AUDIT_SIGNING_PRIVATE_KEY": pem}).alg is expected


def test_local_secrets_are_hmac() -> None:
    for env in (BACKENDS["local"], BACKENDS["local-secret"]):
        signer = signer_from_env(env)
        assert (signer.backend, signer.alg) == ("local", Algorithm.HMAC_SHA256)
        assert signer.jwks() == {"keys": []}
        _sign_and_check(signer)


def test_mock_is_deterministic() -> None:
    a = signer_from_env(BACKENDS["mock"])
    b = signer_from_env(BACKENDS["mock"])
    digest = hashlib.sha256(b"x").digest()
    assert a.backend == "mock" and a.sign_digest(digest) == b.sign_digest(digest)
    assert signer_from_env({**BACKENDS["mock"], "AUDIT_SIGNING_KEY_LABEL": "svc"}).kid == "svc-v1"


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"AUDIT_SIGNING_SECRET": "s", "AUDIT_SIGNING_ALG": "ed25519"}, "needs a private key"),
        ({"AUDIT_SIGNING_KEY": "not a key", "AUDIT_SIGNING_ALG": "rsa-sha256"}, "neither PEM nor base64"),
        ({"AUDIT_SIGNING_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}, "private"),
        ({"AUDIT_SIGNING_PRIVATE_KEY": "@@@"}, "neither PEM nor base64"),
        ({"AUDIT_SIGNING_SECRET": "s", "AUDIT_SIGNING_ALG": "hmac-sha512"}, "AUDIT_SIGNING_ALG"),
        ({"MOCK_AUDIT_SIGNING_KEY": "m", "AUDIT_SIGNING_ALG": "ed25519"}, "only does hmac-sha256"),
    ],
    ids=["secret-for-ed25519", "garbage-key", "bad-pem", "bad-b64", "unknown-alg", "mock-alg"],
)
def test_bad_local_configuration_is_typed(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        signer_from_env(env)


def test_local_key_of_the_wrong_type_for_alg() -> None:
    pem = private_key_pem(generate_private_key(Algorithm.ED25519)).decode()
    with pytest.raises(ConfigurationError, match="does not fit"):
        signer_from_env({"AUDIT_SIGNING_PRIVATE_KEY": pem, "AUDIT_SIGNING_ALG": "rsa-sha256"})
    with pytest.raises(ConfigurationError, match="needs a secret"):
        signer_from_env({"AUDIT_SIGNING_PRIVATE_KEY": pem, "AUDIT_SIGNING_ALG": "hmac-sha256"})


SERVICE = [sys.executable, "-m", "pytest_kmsconform.reference_impl.service", "--check"]


@pytest.mark.parametrize(
    ("env", "code", "out"),
    [
        ({"NODE_ENV": "production", **BACKENDS["mock"]}, 1, "Audit signing is required"),
        ({"REQUIRE_KMS": "1", **BACKENDS["local"]}, 1, "Audit signing is required"),
        ({"NODE_ENV": "PRODUCTION"}, 1, "Audit signing is required"),
        ({"NODE_ENV": "development", **BACKENDS["mock"]}, 0, "ready mock aureus-signer-v1"),
        ({}, 0, "ready local aureus-signer-v1"),
    ],
    ids=["prod-mock", "require-kms-local", "prod-nothing", "dev-mock", "nothing"],
)
def test_service_process(env: dict[str, str], code: int, out: str, tmp_path: Any) -> None:
    import os

    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    proc = subprocess.run(SERVICE, env={**clean, **env}, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert proc.stdout.strip() == out
    else:
        assert proc.stderr.startswith(out) and proc.stdout == ""


def test_service_stays_up_until_sigterm(tmp_path: Any) -> None:
    import os
    import signal

    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    proc = subprocess.Popen(
        SERVICE[:-1], env={**clean, **BACKENDS["mock"]}, stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready mock aureus-signer-v1"
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
