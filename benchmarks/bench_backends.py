"""Benchmark 3: the cost of one sign through each backend, beside a raw local sign.

Every path signs a 32-byte digest with an ed25519 key (P-256 on Azure Key Vault, which has no
ed25519) through the reference signer
(:class:`RingSigner`, which also checks the signature against the public key), so the ratio to
the raw local sign is the price of the backend's protocol, client library and emulator.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from bench_lib import BenchResult, latency_summary, time_calls
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signer import KeyBackend, Signer

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle

SignerFactory = Callable[[], AbstractContextManager[Signer]]


def _ring(backend: KeyBackend) -> Signer:
    ring = KeyRing(backend, Algorithm.ED25519, "bench")
    ring.rotate()
    return RingSigner(ring)


@contextmanager
def _provider_signer(name: str, make: Callable[..., Signer], **options: str) -> Iterator[Signer]:
    with backend_registry.get(name).start(namespace="bench", options=options) as handle:
        signer = make(handle)
        try:
            yield signer
        finally:
            signer.close()


@contextmanager
def moto_in_process() -> Iterator[Signer]:
    import boto3
    from moto import mock_aws
    from pytest_kmsconform.emulators.aws_kms.install import fidelity_kms
    from pytest_kmsconform.reference_impl.backends.aws_kms import AwsKmsBackend

    with mock_aws(), fidelity_kms():
        yield _ring(AwsKmsBackend(boto3.client("kms", region_name="us-east-1"), namespace="bench"))


def moto_http() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.reference_impl.backends.aws_kms import AwsKmsBackend, client_from_env

    return _provider_signer("aws-kms", lambda h: _ring(AwsKmsBackend(client_from_env(h.env), namespace="bench")))


def openbao_transit() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.key_backends import key_backend_for

    return _provider_signer("vault", lambda h: _ring(key_backend_for(h)))


def yubihsm_in_process() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.key_backends import key_backend_for

    return _provider_signer("yubihsm", lambda h: _ring(key_backend_for(h)))


def yubihsm_http() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.reference_impl.backends.yubihsm import backend_from_env

    return _provider_signer("yubihsm", lambda h: _ring(backend_from_env(h.env)))


def azure_keyvault() -> AbstractContextManager[Signer]:
    """P-256 (ES256): Key Vault has no ed25519 (see docs/emulators/azure-keyvault.md)."""
    from pytest_kmsconform.reference_impl.backends.azure_keyvault import key_backend_from_env

    def make(handle: Any) -> Signer:
        ring = KeyRing(key_backend_from_env(handle.env, "bench"), Algorithm.ECDSA_P256_SHA256, "bench")
        ring.rotate()
        return RingSigner(ring)

    return _provider_signer("azure-keyvault", make)


def pkcs11_softhsm() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.reference_impl.backends.pkcs11 import backend_from_env

    return _provider_signer("pkcs11", lambda h: _ring(backend_from_env(h.env)))


def signing_proxy() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.reference_impl.backends.signing_proxy import signer_from_env

    return _provider_signer("signing-proxy", lambda h: signer_from_env(h.env), backend="local", alg="ed25519")


def gcp_kms_rest() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.reference_impl.backends.gcp_kms import key_backend_from_env

    return _provider_signer("gcp-kms", lambda h: _ring(key_backend_from_env(h.env, h.namespace)))


def gcp_kms_grpc() -> AbstractContextManager[Signer]:
    from pytest_kmsconform.reference_impl.backends.gcp_kms import key_backend_from_env

    def make(handle: BackendHandle) -> Signer:
        return _ring(key_backend_from_env({**handle.env, "KMS_EMULATOR_TRANSPORT": "grpc"}, handle.namespace))

    return _provider_signer("gcp-kms", make)


PATHS: dict[str, SignerFactory] = {
    "aws-kms (moto layer, in-process)": moto_in_process,
    "aws-kms (moto layer, HTTP)": moto_http,
    "vault (OpenBao Transit, hvac)": openbao_transit,
    "yubihsm (simulator, in-process SCP03)": yubihsm_in_process,
    "yubihsm (simulator, HTTP connector SCP03)": yubihsm_http,
    "signing-proxy (local ed25519, HTTP)": signing_proxy,
    "azure-keyvault (emulator, HTTPS, azure-keyvault-keys, P-256)": azure_keyvault,
    "gcp-kms (emulator, REST)": gcp_kms_rest,
    "gcp-kms (emulator, gRPC)": gcp_kms_grpc,
    "pkcs11 (SoftHSM2 token, python-pkcs11)": pkcs11_softhsm,
}


def run(count: int) -> list[BenchResult]:
    digest = os.urandom(32)
    ring = KeyRing(LocalKeyBackend(), Algorithm.ED25519, "bench")
    version = ring.rotate()
    raw = latency_summary(time_calls(lambda: ring.backend.sign(version.key, digest), max(count, 2000)))
    results = [
        BenchResult(
            "sign: local ring signer",
            latency_summary(time_calls(lambda: RingSigner(ring).sign_digest(digest), max(count, 2000)))["ops_per_s"],
            "ops/s",
            "raw local ed25519 sign",
            raw["ops_per_s"],
        ),
    ]
    for label, factory in PATHS.items():
        reason = None
        name = label.split(" ", 1)[0]
        provider = backend_registry.get(name)
        reason = provider.unavailable_reason()
        if reason is not None:
            print(f"  skipped {label}: {reason}")
            continue
        with factory() as signer:
            signer.sign_digest(digest)  # warm-up: sessions, connections, key caches
            summary = latency_summary(time_calls(lambda s=signer: s.sign_digest(digest), count))
        results.append(
            BenchResult(
                f"sign: {label}",
                summary["ops_per_s"],
                "ops/s",
                "raw local ed25519 sign",
                raw["ops_per_s"],
                notes={**summary, "calls": count},
            )
        )
    return results
