"""Fixtures: a boto3 KMS client on plain moto 5.2.5 or on our fidelity layer (in-process or HTTP).

``plain`` exists so every fix has an honest test: the test asserts the bug on plain moto and the
AWS behaviour on ``fixed`` and ``fixed-http`` (the same layer behind moto's HTTP server).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pytest_kmsconform.emulators.aws_kms import KmsEmulator, fidelity_kms

REGION = "us-east-1"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Kms:
    mode: str
    client: Any

    @property
    def plain(self) -> bool:
        return self.mode == "plain"

    def key(self, spec: str, usage: str) -> str:
        return str(self.client.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"])


@pytest.fixture(params=["plain", "fixed", "fixed-http"])
def kms(request: pytest.FixtureRequest) -> Iterator[Kms]:
    mode: str = request.param
    if mode == "fixed-http":
        with KmsEmulator() as emu:
            yield Kms(mode, emu.client())
        return
    with mock_aws():
        client = boto3.client("kms", region_name=REGION, **CREDS)
        if mode == "plain":
            yield Kms(mode, client)
        else:
            with fidelity_kms():
                yield Kms(mode, client)


@pytest.fixture(params=["fixed", "fixed-http"])
def fixed(request: pytest.FixtureRequest) -> Iterator[Kms]:
    """Only our layer (for behaviour plain moto cannot even set up, or seeded runs)."""
    if request.param == "fixed-http":
        with KmsEmulator() as emu:
            yield Kms(request.param, emu.client())
        return
    with mock_aws(), fidelity_kms():
        yield Kms(request.param, boto3.client("kms", region_name=REGION, **CREDS))


def wrap_for_import(public_der: bytes, material: bytes, algorithm: str) -> bytes:
    """Wrap key material as a client does for ImportKeyMaterial (RSAES-OAEP, or RSA + AES key wrap)."""
    from cryptography.hazmat.primitives import hashes, keywrap, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    digest: hashes.HashAlgorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    aes_key = os.urandom(32)
    return public.encrypt(aes_key, oaep) + keywrap.aes_key_wrap_with_padding(aes_key, material)


def import_material(
    client: Any, key_id: str, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256", **kwargs: Any
) -> dict[str, Any]:
    """GetParametersForImport + ImportKeyMaterial (no expiry unless ``kwargs`` say otherwise)."""
    params = client.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")
    kwargs.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return dict(
        client.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap_for_import(params["PublicKey"], material, algorithm),
            **kwargs,
        )
    )


@pytest.fixture(scope="module", params=["in-process", "http"])
def any_kms(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A boto3 KMS client on our layer, in process (``mock_aws``) or over HTTP; one per module and mode."""
    if request.param == "http":
        with KmsEmulator() as emu:
            yield emu.client()
        return
    with mock_aws(), fidelity_kms():
        yield boto3.client("kms", region_name=REGION, **CREDS)


@pytest.fixture(scope="session")
def importer() -> Any:
    """``importer(client, key_id, material, algorithm="RSAES_OAEP_SHA_256", **ImportKeyMaterial kwargs)``:
    imports ``material`` through a real wrapping key; returns ImportKeyMaterial's response."""
    return import_material


@pytest.fixture(scope="session")
def wrapper() -> Any:
    """``wrapper(public_der, material, algorithm)``: the EncryptedKeyMaterial a client sends."""
    return wrap_for_import
