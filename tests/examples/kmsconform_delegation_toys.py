"""Delegation mutants: the reference issuer and chain verifier with one rule forgotten.

``tests/plugin/test_delegation_toys.py`` asserts that exactly the KC-DEL checks about that rule fail.
Use: ``pytest --kmsconform --kmsconform-impl=kmsconform_delegation_toys:IgnoresExpiry --kmsconform-backend=local``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.delegation import (
    ChainVerifier,
    SignerVault,
    key_thumbprint,
    sign_certificate,
)

from pytest_kmsconform.adapter import ImplChainVerifier, ImplIssuer, ImplSigner
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.reference_adapter import ReferenceImplementation, ReferenceIssuer


class DelegationCorrect(ReferenceImplementation):
    """The reference issuer and verifier, declared for ed25519 and P-256 on ``local``."""

    name = "delegation toy"
    verifier: type[ChainVerifier] = ChainVerifier

    def capabilities(self) -> Capabilities:
        return Capabilities(
            features=frozenset({Capability.SIGN, Capability.ROTATION, Capability.DELEGATION}),
            algorithms=frozenset({Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256}),
            backends=frozenset({"local"}),
        )

    def delegation_verifier(self, trusted_roots: Mapping[str, Any]) -> ImplChainVerifier:
        return self.verifier(trusted_roots)


class _Widens(ChainVerifier):
    def check_narrowing(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int | None) -> None:
        """Forgot: a child may only narrow."""


class _Outlives(ChainVerifier):
    def check_window(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int | None) -> None:
        """Forgot: a child's validity lies inside its parent's."""


class _IgnoresExpiry(ChainVerifier):
    def check_time(self, cert: Mapping[str, Any], index: int, when: datetime) -> None:
        super().check_time({**cert, "not_after": "9999-12-31T23:59:59Z"}, index, when)


class _IgnoresNotBefore(ChainVerifier):
    def check_time(self, cert: Mapping[str, Any], index: int, when: datetime) -> None:
        super().check_time({**cert, "not_before": "0001-01-01T00:00:00Z"}, index, when)


class _IgnoresParentRef(ChainVerifier):
    def check_parent(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int) -> None:
        """Forgot: the child names its parent certificate, not just its parent's key."""


class _TrustsEmbeddedKey(ChainVerifier):
    def check_issuer_key(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int) -> None:
        """Forgot: the embedded issuer key must be the parent's subject key."""


class _SkipsSignature(ChainVerifier):
    def check_signature(self, cert: Mapping[str, Any], index: int) -> None:
        """Forgot: the signature (the keys link up, so it looked fine)."""


class _TrustsAnyRoot(ChainVerifier):
    def check_root(self, cert: Mapping[str, Any], index: int) -> None:
        """Forgot: the root must be signed by a trusted key."""


class _PhonesHome(ChainVerifier):
    """Asks a revocation server first (and carries on when it cannot be reached)."""

    def verify_chain(self, chain: Sequence[Mapping[str, Any]], *, at: datetime | None = None) -> list[str]:
        with contextlib.suppress(OSError):
            socket.getaddrinfo("revocation.kmsconform.invalid", 443)
        return super().verify_chain(chain, at=at)


def _toy(name: str, verifier: type[ChainVerifier]) -> type:
    return type(name, (DelegationCorrect,), {"verifier": verifier})


Widens = _toy("Widens", _Widens)
Outlives = _toy("Outlives", _Outlives)
IgnoresExpiry = _toy("IgnoresExpiry", _IgnoresExpiry)
IgnoresNotBefore = _toy("IgnoresNotBefore", _IgnoresNotBefore)
IgnoresParentRef = _toy("IgnoresParentRef", _IgnoresParentRef)
TrustsEmbeddedKey = _toy("TrustsEmbeddedKey", _TrustsEmbeddedKey)
SkipsSignature = _toy("SkipsSignature", _SkipsSignature)
TrustsAnyRoot = _toy("TrustsAnyRoot", _TrustsAnyRoot)
PhonesHome = _toy("PhonesHome", _PhonesHome)


class _UncheckedIssuer(ReferenceIssuer):
    def issue(self, *, parent: Mapping[str, Any] | None = None, **fields: Any) -> Mapping[str, Any]:
        from pytest_kmsconform.reference_impl.clock import format_time
        from pytest_kmsconform.reference_impl.delegation import FORMAT, cert_digest

        body = {
            "format": FORMAT,
            "serial": "unchecked",
            "issuer": self.name,
            "subject": fields["subject"],
            "subject_key": dict(fields["subject_key"]),
            "capabilities": sorted(fields["capabilities"]),
            "not_before": format_time(fields["not_before"]),
            "not_after": format_time(fields["not_after"]),
            "parent": None if parent is None else cert_digest(parent),
        }
        return sign_certificate(body, self.vault)


class IssuerNoChecks(DelegationCorrect):
    """Signs whatever it is asked to: widening and outliving children included."""

    def delegation_issuer(self, signer: ImplSigner, name: str) -> ImplIssuer:
        issuer = _UncheckedIssuer(signer, name)
        return issuer


class _CachedVault(SignerVault):
    """Reads the verifying key once: after a rotation it embeds the old key."""

    def __init__(self, signer: Any) -> None:
        super().__init__(signer)
        self._key = super().get_verifying_key()

    def get_verifying_key(self) -> dict[str, Any]:
        return dict(self._key)


class IssuerCachesKey(DelegationCorrect):
    def delegation_issuer(self, signer: ImplSigner, name: str) -> ImplIssuer:
        issuer = ReferenceIssuer(signer, name)
        issuer.vault = _CachedVault(signer)
        return issuer


__all__ = ["DelegationCorrect", "IssuerCachesKey", "IssuerNoChecks", "key_thumbprint"]
