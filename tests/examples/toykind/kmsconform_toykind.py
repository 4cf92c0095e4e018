"""A toy backend kind in its own distribution: ``toy-kms``, Ed25519 keys in a dict.

docs/adapter.md ("A new backend kind") shows this file; tests/plugin/test_third_party_kind.py
installs it as a throw-away distribution whose ``entry_points.txt`` reads::

    [pytest_kmsconform.backends]
    toy-kms = kmsconform_toykind:KIND

and runs the suites on it. With ``TOY_KMS_SIGNS_PREHASHED=1`` its backend signs SHA-256 of the
digest instead of the digest (the bug the signing checks must catch).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import InvalidSignature, KeyStateError, UnknownKey
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signer import BackendKey

from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.kinds import Backend, BackendKind, EnvSelection, KeyBackendSource

NAME = "toy-kms"


class ToyKeyBackend:
    """The reference ``KeyBackend`` protocol over a dict of Ed25519 keys."""

    name = NAME

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._keys: dict[str, ed25519.Ed25519PrivateKey] = {}
        self._disabled: set[str] = set()
        self._lock = threading.Lock()
        self._prehashes = os.environ.get("TOY_KMS_SIGNS_PREHASHED") == "1"

    def algorithms(self) -> frozenset[Algorithm]:
        return frozenset({Algorithm.ED25519})

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        with self._lock:
            ref = f"{self._namespace}/{label}/{len(self._keys) + 1}"
            self._keys[ref] = ed25519.Ed25519PrivateKey.generate()
        return BackendKey(kid=f"{label}-{secrets.token_hex(4)}", alg=alg, ref=ref)

    def _key(self, key: BackendKey) -> ed25519.Ed25519PrivateKey:
        with self._lock:
            if key.ref not in self._keys:
                raise UnknownKey(f"no toy key {key.ref}")
            return self._keys[key.ref]

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        private = self._key(key)
        if key.ref in self._disabled:
            raise KeyStateError(f"toy key {key.ref} is disabled")
        return private.sign(hashlib.sha256(digest).digest() if self._prehashes else digest)

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        try:
            self._key(key).public_key().verify(signature, digest)
        except CryptoInvalidSignature:
            raise InvalidSignature(f"toy key {key.ref}: signature does not verify") from None

    def public_key(self, key: BackendKey) -> ed25519.Ed25519PublicKey:
        return self._key(key).public_key()

    def disable(self, key: BackendKey) -> None:
        with self._lock:
            self._disabled.add(key.ref)

    def close(self) -> None:
        pass


def key_backend_from_env(env: Mapping[str, str], namespace: str) -> ToyKeyBackend:
    """The reference key backend for a ``toy-kms`` handle, from its env lines alone."""
    return ToyKeyBackend(namespace)


def signer_from_env(env: Mapping[str, str]) -> RingSigner:
    """What ``signer_from_env`` builds when ``TOY_KMS_KEY`` is set (a label for a fresh key)."""
    ring = KeyRing(ToyKeyBackend("env"), Algorithm.ED25519, env["TOY_KMS_KEY"])
    ring.rotate()
    return RingSigner(ring)


@dataclass(frozen=True)
class ToyProvider:
    """Starts a ``toy-kms`` backend: nothing to run, the keys live in the signer's process."""

    name: str = NAME
    kind: str = NAME
    description: str = "toy KMS: Ed25519 keys in a dict"
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        env = {"TOY_KMS_KEY": f"{namespace}-key"}
        yield BackendHandle(name=self.name, kind=self.kind, env=env, version="toy 1.0", namespace=namespace)


PROVIDER = ToyProvider()

KIND = BackendKind(
    name=NAME,
    description="toy KMS: Ed25519 keys in a dict",
    algorithms=frozenset({Algorithm.ED25519}),
    backends=(Backend(NAME, "kmsconform_toykind:PROVIDER"),),
    key_backend=KeyBackendSource(from_env="kmsconform_toykind:key_backend_from_env"),
    selection=EnvSelection(("TOY_KMS_KEY",), precedence=45, signer="kmsconform_toykind:signer_from_env"),
    client_env=("TOY_KMS_KEY",),
)
