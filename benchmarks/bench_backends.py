"""Benchmark 3: the cost of one sign through each backend, beside its nearest peer.

Every path signs a 32-byte digest with an ed25519 key (P-256 on Azure Key Vault, which has no
ed25519) through the reference signer (:class:`RingSigner`, which also checks the signature
against the public key). Each is measured beside its nearest peer in the same run: the aws-kms
layer over HTTP beside the same layer behind moto's own werkzeug server (the front it replaced,
issue 20) and plain moto's server; OpenBao through the reference signer beside a bare hvac Transit
sign on the same server; the SoftHSM2 token beside a bare python-pkcs11 sign; the rest beside a raw
local sign (no other YubiHSM 2 simulator, signing proxy or Key Vault emulator runs here; Google's
Cloud KMS ``fakekms`` is a Go binary we may not download at run time, so it is not measured).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from bench_lib import BenchResult, latency_summary, not_run, time_calls
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


@contextmanager
def moto_behind_moto_server() -> Iterator[Signer]:
    """The same layer and signer behind moto's werkzeug server, as before the keep-alive front."""
    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from pytest_kmsconform.emulators.aws_kms.install import fidelity_kms
    from pytest_kmsconform.reference_impl.backends.aws_kms import AwsKmsBackend, kms_client

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its request lines
    with fidelity_kms():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            client = kms_client(
                endpoint_url=f"http://{host}:{port}",
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            yield _ring(AwsKmsBackend(client, namespace="bench"))
        finally:
            server.stop()


class _Bare:
    """A peer's own client signing the digest, without the reference signer (``sign_digest`` only)."""

    def __init__(self, sign: Callable[[bytes], object]) -> None:
        self.sign_digest = sign


@contextmanager
def plain_moto_p256() -> Iterator[_Bare]:
    """Plain moto 5.2.5's server (no fidelity layer), a boto3 P-256 DIGEST sign."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "kms",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        )
        key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        yield _Bare(lambda d: client.sign(KeyId=key, Message=d, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"))
    finally:
        server.stop()


@contextmanager
def bare_openbao() -> Iterator[_Bare]:
    """hvac's own Transit sign (ed25519, prehashed digest) on the same OpenBao dev server."""
    import base64

    import hvac

    with backend_registry.get("vault").start(namespace="bench") as handle:
        client = hvac.Client(url=handle.env["VAULT_ADDR"], token=handle.env["VAULT_TOKEN"])
        mount = handle.env.get("VAULT_TRANSIT_MOUNT", "transit")
        client.secrets.transit.create_key("bench-bare", key_type="ed25519", mount_point=mount)
        yield _Bare(
            lambda d: client.secrets.transit.sign_data("bench-bare", base64.b64encode(d).decode(), mount_point=mount)
        )


@contextmanager
def bare_pkcs11() -> Iterator[_Bare]:
    """The token's own Ed25519 sign (``CKM_EDDSA`` through python-pkcs11, the key backend's one call),
    without the reference signer's check (SoftHSM2 allows one initialisation per process)."""
    from pytest_kmsconform.reference_impl.backends.pkcs11 import backend_from_env

    with backend_registry.get("pkcs11").start(namespace="bench") as handle:
        backend = backend_from_env(handle.env)
        try:
            key = backend.create_key(Algorithm.ED25519, "bench-bare", None)
            yield _Bare(lambda d: backend.sign(key, d))
        finally:
            backend.close()


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


FAKEKMS = "a Go program built from source (no registry ships it; nothing may download a binary at run time)"
"""Why Google's fakekms, the nearest peer of gcp-kms, is not measured."""

PEERS: dict[str, tuple[str, Callable[[], AbstractContextManager[Any]]]] = {
    "aws-kms (moto layer, HTTP)": ("the same layer behind moto's werkzeug server", moto_behind_moto_server),
    "vault (OpenBao Transit, hvac)": ("bare hvac Transit sign, same OpenBao", bare_openbao),
    "pkcs11 (SoftHSM2 token, python-pkcs11)": ("bare token sign (python-pkcs11), same token", bare_pkcs11),
}
"""Our path -> (peer label, peer factory), each measured in the same run right after ours."""

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
        name = label.split(" ", 1)[0]
        reason = backend_registry.get(name).unavailable_reason()
        if reason is not None:
            results.append(not_run(f"sign: {label}", "ops/s", reason))
            continue
        summary = _rate(factory, digest, count)
        baseline_name, baseline = "raw local ed25519 sign", raw
        if label in PEERS:
            baseline_name, peer = PEERS[label]
            baseline = _rate(peer, digest, count)
        results.append(
            BenchResult(
                f"sign: {label}",
                summary["ops_per_s"],
                "ops/s",
                baseline_name,
                baseline["ops_per_s"],
                notes={**summary, "calls": count, "baseline": baseline},
            )
        )
    results.append(not_run("sign: Google's Cloud KMS fakekms (peer of gcp-kms)", "ops/s", FAKEKMS))
    if backend_registry.get("aws-kms").unavailable_reason() is None:
        plain = _rate(plain_moto_p256, digest, count)
        results.append(
            BenchResult(
                "sign: plain moto server, boto3 P-256 (no fidelity layer, no reference signer)",
                plain["ops_per_s"],
                "ops/s",
                "raw local ed25519 sign",
                raw["ops_per_s"],
                notes={**plain, "calls": count},
            )
        )
    return results


def _rate(factory: Callable[[], AbstractContextManager[Any]], digest: bytes, count: int) -> dict[str, float]:
    with factory() as signer:
        signer.sign_digest(digest)  # warm-up: sessions, connections, key caches
        return latency_summary(time_calls(lambda: signer.sign_digest(digest), count))
