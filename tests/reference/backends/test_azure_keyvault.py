"""AzureKeyVaultBackend and the seed 002 signer against the Key Vault emulator, built from the
handle's env lines alone (as a client in any language would be): signatures checked locally and by
the vault, rotation as Key Vault versions, revocation as ``enabled=false``, errors translated."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pytest_kmsconform.emulators.faults import FaultProxy, plan_from_dict
from pytest_kmsconform.emulators.faults.handles import FaultProxyDetails, faulted_handle
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.azure_keyvault import (
    UNSUPPORTED,
    AzureKeyVaultBackend,
    StaticTokenCredential,
    client_kwargs_from_env,
    credential_from_env,
    key_name,
    signer_from_env,
)
from pytest_kmsconform.reference_impl.config import choose_signer
from pytest_kmsconform.reference_impl.config import signer_from_env as config_signer
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KeyRevoked,
    KeyStateError,
    UnsupportedAlgorithm,
    UnsupportedReason,
)
from pytest_kmsconform.reference_impl.guard import start_service
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import verify_digest
from pytest_kmsconform.reference_impl.retry import Retrier, RetryingKeyBackend

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.key_backends import key_backend_for

pytest.importorskip("azure.keyvault.keys", reason="needs the azure extra (azure-keyvault-keys)")
DIGEST = hashlib.sha256(b"audit record 1").digest()
SIGNING = (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256, Algorithm.ECDSA_P256_SHA256)
_labels = itertools.count(1)


@pytest.fixture(scope="module")
def handle() -> Iterator[BackendHandle]:
    with backend_registry.get("azure-keyvault").start(namespace="kc-test-ref") as running:
        yield running


@pytest.fixture
def backend(handle: BackendHandle) -> Iterator[AzureKeyVaultBackend]:
    made = key_backend_for(handle)
    try:
        yield made
    finally:
        made.close()


def label() -> str:
    return f"ref-{next(_labels)}"


@pytest.mark.parametrize("alg", SIGNING, ids=lambda a: a.value)
def test_ring_signs_rotates_and_revokes(backend: AzureKeyVaultBackend, alg: Algorithm) -> None:
    ring = KeyRing(backend, alg, label())
    first = ring.rotate()
    signer = RingSigner(ring)
    signature = signer.sign_digest(DIGEST)
    public = backend.public_key(first.key)
    assert public is not None
    verify_digest(alg, public, DIGEST, signature.value)  # DER for ECDSA, as docs/spec.md says
    backend.verify(first.key, DIGEST, signature.value)  # and the vault agrees, online
    second = ring.rotate()
    assert (first.key.kid, second.key.kid) == (f"{ring.label}-v1", f"{ring.label}-v2")
    assert first.key.ref.rsplit("/", 2)[0] == second.key.ref.rsplit("/", 2)[0]  # one name, two versions
    ring.revoke(second.key.kid, "compromised")
    with pytest.raises(BackendError) as refused:  # the vault itself refuses, not only the ring
        backend.sign(second.key, DIGEST)
    assert refused.value.code is BackendErrorCode.DISABLED and "KeyDisabled" in refused.value.detail
    with pytest.raises((KeyRevoked, KeyStateError)):  # and the ring has no key left to sign with
        signer.sign_digest(DIGEST)
    with pytest.raises(InvalidSignature):  # the vault verifies with the version named, not the latest
        backend.verify(second.key, DIGEST, signature.value)


def test_online_verify_rejects_a_flipped_signature(backend: AzureKeyVaultBackend) -> None:
    for alg in SIGNING:
        key = backend.create_key(alg, label(), None)
        value = bytearray(backend.sign(key, DIGEST))
        value[-1] ^= 1
        with pytest.raises(InvalidSignature):
            backend.verify(key, DIGEST, bytes(value))


@pytest.mark.parametrize("alg", sorted(UNSUPPORTED), ids=lambda a: a.value)
def test_unsupported_algorithms_say_why(backend: AzureKeyVaultBackend, alg: Algorithm) -> None:
    assert alg not in backend.algorithms()
    with pytest.raises(UnsupportedAlgorithm) as caught:
        backend.create_key(alg, label(), None)
    assert caught.value.reason is UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM
    assert UNSUPPORTED[alg] in str(caught.value)


@contextmanager
def through_fault_proxy(handle: BackendHandle) -> Iterator[tuple[FaultProxy, AzureKeyVaultBackend]]:
    """A key backend built from the env lines of ``handle`` behind the fault proxy (none armed)."""
    with faulted_handle(handle, plan_from_dict({"rules": []})) as faulted:
        made = key_backend_for(faulted)
        assert isinstance(made, AzureKeyVaultBackend)
        try:
            yield faulted.require_detail(FaultProxyDetails).fault_proxy, made
        finally:
            made.close()


def test_errors_are_translated(handle: BackendHandle) -> None:
    with through_fault_proxy(handle) as (proxy, backend):
        _errors_are_translated(proxy, backend)


def _errors_are_translated(proxy: FaultProxy, backend: AzureKeyVaultBackend) -> None:
    key = backend.create_key(Algorithm.ECDSA_P256_SHA256, label(), None)
    cases = [("ThrottlingException", BackendErrorCode.THROTTLED), ("KMSInternalException", BackendErrorCode.INTERNAL)]
    cases += [
        ("DependencyTimeoutException", BackendErrorCode.TIMEOUT),
        ("sealed", BackendErrorCode.UNAVAILABLE),
        ("AccessDeniedException", BackendErrorCode.ACCESS_DENIED),
    ]
    for error, code in cases:
        proxy.plan = plan_from_dict({"rules": [{"operation": "keys/sign", "fault": "error", "error": error}]})
        with pytest.raises(BackendError) as caught:
            backend.sign(key, DIGEST)
        assert caught.value.code is code, error
    proxy.plan = plan_from_dict({"rules": [{"operation": "keys/sign", "fault": "reset"}]})
    with pytest.raises(BackendError) as reset:
        backend.sign(key, DIGEST)
    assert reset.value.code is BackendErrorCode.UNAVAILABLE
    proxy.plan = plan_from_dict({"rules": []})
    missing = key.__class__(kid="x-v1", alg=key.alg, ref=key.ref.rsplit("/", 2)[0] + "/missing/" + "0" * 32)
    with pytest.raises(BackendError) as not_found:
        backend.public_key(missing)
    assert not_found.value.code is BackendErrorCode.NOT_FOUND


def test_retrying_backend_survives_throttling(handle: BackendHandle) -> None:
    with through_fault_proxy(handle) as (proxy, backend):
        retrying = RetryingKeyBackend(backend, Retrier(sleep=lambda s: None))
        key = retrying.create_key(Algorithm.RSA_PSS_SHA256, label(), None)
        proxy.plan = plan_from_dict(
            {"rules": [{"operation": "keys/sign", "fault": "error", "error": "ThrottlingException", "count": 2}]}
        )
        retrying.sign(key, DIGEST)
        assert proxy.plan.fired() == 2


def test_seed_002_signer_from_env(handle: BackendHandle, backend: AzureKeyVaultBackend) -> None:
    key = backend.create_key(Algorithm.ECDSA_P256_SHA256, "seed-two", None)
    name = key.ref.rsplit("/", 2)[1]
    env = {**handle.env, "A1_AZURE_KEY": name}
    choice = choose_signer(env)
    assert choice is not None and choice.backend == "azure-keyvault"
    signer = config_signer(env)
    try:
        assert signer.kid == f"azure-keyvault:{name}/{key.ref.rsplit('/', 1)[1]}"
        assert signer.alg is Algorithm.ECDSA_P256_SHA256
        signature = signer.sign_digest(DIGEST)
        signer.verify_signature(DIGEST, signature)
        assert [k["kid"] for k in signer.jwks()["keys"]] == [signer.kid]
    finally:
        signer.close()
    start_service({**env, "NODE_ENV": "production"}).close()  # a KMS-backed signer passes the guard
    with pytest.raises(ConfigurationError, match="A1_AZURE_KEY"):
        signer_from_env({**handle.env, "A1_AZURE_KEY": "no-such-key"})
    with pytest.raises(ConfigurationError, match="does not fit"):
        signer_from_env({**env, "AUDIT_SIGNING_ALG": "rsa-sha256"})
    with pytest.raises(ConfigurationError, match="OKP"):
        signer_from_env({**env, "AUDIT_SIGNING_ALG": "ed25519"})
    with pytest.raises(ConfigurationError, match="https"):
        signer_from_env({**env, "AZURE_KEYVAULT_URL": "http://127.0.0.1:1"})


def test_env_parsing() -> None:
    assert isinstance(credential_from_env({"AZURE_KEYVAULT_ACCESS_TOKEN": "t"}), StaticTokenCredential)
    principal = credential_from_env({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"})
    assert type(principal).__name__ == "ClientSecretCredential"
    kwargs: dict[str, Any] = client_kwargs_from_env(
        {"AZURE_KEYVAULT_CA_BUNDLE": "/ca.pem", "AZURE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false"}
    )
    assert kwargs["connection_verify"] == "/ca.pem" and kwargs["verify_challenge_resource"] is False
    assert kwargs["retry_total"] == 0
    assert "verify_challenge_resource" not in client_kwargs_from_env({})


def test_key_names_fit_key_vault() -> None:
    assert key_name("kc-1a2b-gw0-azure-keyvault", "KC-SIG-001/x_y") == "kc-1a2b-gw0-azure-keyvault-KC-SIG-001-x-y"
    long = key_name("n" * 100, "l" * 100)
    assert len(long) == 127 and long != key_name("n" * 100, "l" * 99 + "m")
