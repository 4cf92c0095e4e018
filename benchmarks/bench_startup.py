"""Benchmark 4: start-up to the first successful sign, per emulator/server, beside an alternative.

"Start-up" is from entering the provider's ``start()`` to the first ed25519 signature through the
reference signer (key creation included) -- what a test session pays once per backend. Baselines:
plain moto's HTTP server for our moto layer (our fidelity overhead) and LocalStack's host runtime
where its tox env exists; a bare ``bao server -dev`` answering ``/v1/sys/health`` for our OpenBao
fixture; a local in-memory key for the rest (no alternative simulator exists for YubiHSM 2, and no
other Cloud KMS emulator signs Ed25519). The gcp-kms figure includes one PENDING_GENERATION poll.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
import urllib.request
from collections.abc import Callable

from bench_backends import FAKEKMS, PATHS
from bench_lib import BenchResult, not_run
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

from pytest_kmsconform import backend_registry

DIGEST = os.urandom(32)


def _median_seconds(fn: Callable[[], None], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _first_sign(label: str) -> None:
    with PATHS[label]() as signer:
        signer.sign_digest(DIGEST)


def _local_first_sign() -> None:
    ring = KeyRing(LocalKeyBackend(), Algorithm.ED25519, "bench")
    ring.rotate()
    RingSigner(ring).sign_digest(DIGEST)


def _plain_moto_first_sign() -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # request lines would flood the table
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
        client.sign(KeyId=key, Message=DIGEST, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    finally:
        server.stop()


def _bare_openbao_healthy() -> None:
    from pytest_kmsconform.emulators.vault.openbao import OpenBaoServer

    with OpenBaoServer(mount=None) as server, urllib.request.urlopen(f"{server.url}/v1/sys/health", timeout=10) as r:
        r.read()


def _aws_p256_first_sign(name: str) -> None:
    """P-256: LocalStack 4.13.1 has no ECC_NIST_EDWARDS25519 key spec."""
    from pytest_kmsconform.key_backends import key_backend_for

    with backend_registry.get(name).start(namespace="bench") as handle:
        ring = KeyRing(key_backend_for(handle), Algorithm.ECDSA_P256_SHA256, "bench")
        ring.rotate()
        RingSigner(ring).sign_digest(DIGEST)


def _pkcs11_fresh_token_first_sign() -> None:
    """A new SoftHSM2 token (directory, conf, softhsm2-util), the module re-initialised on it, one
    Ed25519 key and the first sign: what the first pkcs11 backend of a process (xdist worker) pays.
    (Later starts in the same process reuse its token.)"""
    import shutil

    from pytest_kmsconform.emulators.pkcs11 import softhsm
    from pytest_kmsconform.reference_impl.backends.pkcs11 import Pkcs11Backend

    token = softhsm.create_token()
    try:
        backend = Pkcs11Backend(str(token.module), token.label, token.pin, softhsm_conf=str(token.conf))
        try:
            ring = KeyRing(backend, Algorithm.ED25519, "bench")
            ring.rotate()
            RingSigner(ring).sign_digest(DIGEST)
        finally:
            backend.close()
    finally:
        shutil.rmtree(token.directory, ignore_errors=True)


def _pkcs11_rsa_keygen() -> None:
    from pytest_kmsconform.reference_impl.backends.pkcs11 import backend_from_env

    with backend_registry.get("pkcs11").start(namespace="bench") as handle:
        backend = backend_from_env({**handle.env, "KMSCONFORM_PKCS11_RSA_SPARE": "0"})
        try:
            backend.create_key(Algorithm.RSA_SHA256, "bench-rsa", None)
        finally:
            backend.close()


def _cryptography_rsa_keygen() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pkcs11_results(repeats: int, local: float) -> list[BenchResult]:
    reason = backend_registry.get("pkcs11").unavailable_reason()
    if reason is not None:
        return [not_run("start-up to first sign: pkcs11", "ms", reason)]
    fresh = _median_seconds(_pkcs11_fresh_token_first_sign, repeats)
    rsa_repeats = max(3, repeats)
    token_rsa = _median_seconds(_pkcs11_rsa_keygen, rsa_repeats)
    host_rsa = _median_seconds(_cryptography_rsa_keygen, rsa_repeats)
    return [
        BenchResult(
            "start-up to first sign: pkcs11 (new SoftHSM2 token, python-pkcs11)",
            fresh * 1000,
            "ms",
            "local in-memory key",
            local * 1000,
            notes={"repeats": repeats},
        ),
        BenchResult(
            "key generation: pkcs11 RSA-2048 on the SoftHSM2 token (no spare)",
            token_rsa * 1000,
            "ms",
            "pyca/cryptography RSA-2048 generation",
            host_rsa * 1000,
            notes={"repeats": rsa_repeats},
        ),
    ]


def run(repeats: int) -> list[BenchResult]:
    local = _median_seconds(_local_first_sign, repeats)
    pairs: list[tuple[str, str, Callable[[], None], str, Callable[[], None]]] = [
        (
            "aws-kms",
            "aws-kms (moto layer, HTTP)",
            lambda: _first_sign("aws-kms (moto layer, HTTP)"),
            "plain moto server, first P-256 sign",
            _plain_moto_first_sign,
        ),
        (
            "vault",
            "vault (OpenBao Transit, hvac)",
            lambda: _first_sign("vault (OpenBao Transit, hvac)"),
            "bare bao server -dev to healthy",
            _bare_openbao_healthy,
        ),
        (
            "yubihsm",
            "yubihsm (simulator, HTTP connector SCP03)",
            lambda: _first_sign("yubihsm (simulator, HTTP connector SCP03)"),
            "local in-memory key",
            _local_first_sign,
        ),
        (
            "azure-keyvault",
            "azure-keyvault (emulator, HTTPS, azure-keyvault-keys, P-256)",
            lambda: _first_sign("azure-keyvault (emulator, HTTPS, azure-keyvault-keys, P-256)"),
            "local in-memory key",
            _local_first_sign,
        ),
        (
            "signing-proxy",
            "signing-proxy (local ed25519, HTTP)",
            lambda: _first_sign("signing-proxy (local ed25519, HTTP)"),
            "local in-memory key",
            _local_first_sign,
        ),
        (
            "gcp-kms",
            "gcp-kms (emulator, REST)",
            lambda: _first_sign("gcp-kms (emulator, REST)"),
            "local in-memory key",
            _local_first_sign,
        ),
    ]
    results = []
    for name, label, ours, baseline_name, baseline in pairs:
        reason = backend_registry.get(name).unavailable_reason()
        if reason is not None:
            results.append(not_run(f"start-up to first sign: {label}", "ms", reason))
            continue
        value = _median_seconds(ours, repeats)
        base = local if baseline is _local_first_sign else _median_seconds(baseline, repeats)
        results.append(
            BenchResult(
                f"start-up to first sign: {label}",
                value * 1000,
                "ms",
                baseline_name,
                base * 1000,
                notes={"repeats": repeats},
            )
        )
    results += _pkcs11_results(repeats, local)
    localstack_reason = backend_registry.get("localstack").unavailable_reason()
    if localstack_reason is None:
        ours = _median_seconds(lambda: _aws_p256_first_sign("aws-kms"), repeats)
        value = _median_seconds(lambda: _aws_p256_first_sign("localstack"), 1)
        results.append(
            BenchResult(
                "start-up to first P-256 sign: localstack",
                value * 1000,
                "ms",
                "our moto layer (HTTP), same calls",
                ours * 1000,
                notes={"repeats": 1},
            )
        )
    else:
        results.append(not_run("start-up to first P-256 sign: localstack", "ms", localstack_reason))
    results.append(not_run("start-up to first sign: Google's fakekms (peer of gcp-kms)", "ms", FAKEKMS))
    results.append(
        not_run(
            "start-up to first sign: Lowkey Vault (peer of azure-keyvault)",
            "ms",
            "a Java application run from its Docker image or jar (no Docker engine here, no registry package)",
        )
    )
    return results
