"""The deterministic mock signer (seed 001, "Dev/CI Only"): HMAC-SHA256 under a fixed secret.

Version ``n`` of the key uses ``HMAC-SHA256(secret, "kmsconform-mock/v<n>")`` as its MAC key, so
the same secret always gives the same signatures. The production guard refuses this backend.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedReason,
)
from ..primitives import PublicKey, hmac_digest, verify_hmac
from ..signer import BackendKey


class MockBackend:
    """Deterministic HMAC-SHA256 keys derived from ``secret``."""

    name = kinds.MOCK

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the mock signer needs a non-empty secret (MOCK_AUDIT_SIGNING_KEY)")
        self._secret = secret
        self._versions: dict[str, bytes] = {}
        self._disabled: set[str] = set()

    def algorithms(self) -> frozenset[Algorithm]:
        return frozenset({Algorithm.HMAC_SHA256})

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        if alg is not Algorithm.HMAC_SHA256:
            raise UnsupportedAlgorithm(
                "the mock signer only does hmac-sha256", UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM
            )
        n = len(self._versions) + 1
        kid = f"{label}-v{n}"
        self._versions[kid] = hmac.new(self._secret, f"kmsconform-mock/v{n}".encode(), hashlib.sha256).digest()
        return BackendKey(kid=kid, alg=alg, ref=kid)

    def _key(self, key: BackendKey) -> bytes:
        try:
            return self._versions[key.ref]
        except KeyError:
            raise UnknownKey(f"mock signer has no key {key.ref!r}") from None

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        if key.ref in self._disabled:
            raise BackendError(f"key {key.kid} is disabled", code=BackendErrorCode.DISABLED, backend=self.name)
        return hmac_digest(self._key(key), digest)

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        verify_hmac(self._key(key), digest, signature)

    def public_key(self, key: BackendKey) -> PublicKey | None:
        self._key(key)
        return None

    def hmac_secret(self, key: BackendKey) -> bytes:
        return self._key(key)

    def disable(self, key: BackendKey) -> None:
        self._key(key)
        self._disabled.add(key.ref)

    def close(self) -> None:
        """Nothing to release."""


def key_backend_from_env(env: Mapping[str, str], namespace: str) -> MockBackend:
    """The mock backend under the handle's ``MOCK_AUDIT_SIGNING_KEY``."""
    secret = env.get("MOCK_AUDIT_SIGNING_KEY")
    if not secret:
        raise ConfigurationError("the mock backend needs MOCK_AUDIT_SIGNING_KEY")
    return MockBackend(secret.encode())
