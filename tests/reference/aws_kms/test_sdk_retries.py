"""The SDK's own retries are off: the reference signer's Retrier is the one retry policy."""

from __future__ import annotations

from pytest_kmsconform.emulators.aws_kms.server import KmsEmulator
from pytest_kmsconform.reference_impl.backends.aws_kms import client_from_env


def test_env_client_makes_one_attempt_per_call() -> None:
    client = client_from_env({"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_emulator_client_makes_one_attempt_per_call() -> None:
    with KmsEmulator() as emulator:
        assert emulator.client().meta.config.retries["total_max_attempts"] == 1
