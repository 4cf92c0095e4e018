"""Fixtures: a boto3 KMS client on plain moto 5.2.5 or on our fidelity layer (in-process or HTTP).

``plain`` exists so every fix has an honest test: the test asserts the bug on plain moto and the
AWS behaviour on ``fixed`` and ``fixed-http`` (the same layer behind moto's HTTP server).
"""

from __future__ import annotations

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
