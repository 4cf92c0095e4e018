"""The opt-in ``aws`` provider: refused unless opted in, never in CI; cleanup logic checked on the emulator."""

from __future__ import annotations

import hashlib

import pytest
from pytest_kmsconform.emulators.aws_kms.provider import PROVIDER as EMULATOR
from pytest_kmsconform.emulators.aws_kms.real import PROVIDER
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform import backend_registry
from pytest_kmsconform.key_backends import key_backend_for, kms_client_for


def test_refused_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_registry.get("aws") is PROVIDER and not PROVIDER.embedded
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("KMSCONFORM_REAL_AWS", raising=False)
    assert "opt-in" in (PROVIDER.unavailable_reason() or "")
    monkeypatch.setenv("KMSCONFORM_REAL_AWS", "1")
    monkeypatch.setenv("CI", "true")
    assert "never" in (PROVIDER.unavailable_reason() or "")
    with pytest.raises(ConfigurationError), PROVIDER.start(namespace="x"):
        pass


def test_run_cleanup_schedules_deletion_of_namespace_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # the real provider pointed at our emulator: same boto3 calls, no real account involved
    with EMULATOR.start(namespace="other") as emulator:
        for name, value in emulator.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("CI", raising=False)
        monkeypatch.setenv("KMSCONFORM_REAL_AWS", "1")
        bystander = key_backend_for(emulator).create_key(Algorithm.HMAC_SHA256, "keep", None)
        with PROVIDER.start(namespace="real-run") as handle:
            backend = key_backend_for(handle)
            first = backend.create_key(Algorithm.ECDSA_P256_SHA256, "audit", None)
            second = backend.create_key(Algorithm.ECDSA_P256_SHA256, "audit", first)
            backend.disable(first)
            backend.sign(second, hashlib.sha256(b"x").digest())
        client = kms_client_for(emulator)
        states = {
            k.ref: client.describe_key(KeyId=k.ref)["KeyMetadata"]["KeyState"] for k in (first, second, bystander)
        }
    assert states == {first.ref: "PendingDeletion", second.ref: "PendingDeletion", bystander.ref: "Enabled"}
