"""What an implementation says it can do, and which algorithms each backend kind can sign with.

An adapter declares a :class:`Capabilities` value. A check names the capabilities it needs
(``requires=``); when one is missing the check is reported *not applicable* with a reason naming
the capability and the backend, never passed. A declared capability that misbehaves fails.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from pytest_kmsconform.reference_impl.algorithms import Algorithm


class Capability(enum.StrEnum):
    """One feature an implementation may offer (documented in ``docs/adapter.md``)."""

    SIGN = "sign"
    """``signer(handle, alg, label=)``: a signer on a backend (sign, online verify, JWKS)."""
    VERIFIER = "verifier"
    """``verifier(jwks)``: an in-process verifier that needs only the key set (air-gapped)."""
    VERIFIER_COMMAND = "verifier_command"
    """``verifier_command(archive, jwks)``: argv of a verifier process (run without network)."""
    ROTATION = "rotation"
    """``signer.rotate()``: a new key version that signs from now on."""
    REVOCATION = "revocation"
    """``signer.revoke(kid, reason)``: the key stops signing at once and is marked revoked."""
    AUDIT_LOG = "audit_log"
    """``audit_log(signer, path)``: a hash-chained, signed audit log with archive export."""
    GUARD = "guard"
    """``start_service(env)``: the production guard, in process."""
    SERVICE_COMMAND = "service_command"
    """``service_command()``: argv of the real service's start-up check (exit status + stderr)."""
    MULTISIG = "multisig"
    """``multisig()``: N-of-M manifest approval counting."""
    ENVELOPE = "envelope_persistence"
    """``envelope_store(handle, path, kms_key_id=)``: keys sealed under a KMS data key in SQLite (aws-kms only)."""


ALL_ALGORITHMS = frozenset(Algorithm)

BACKEND_KIND_ALGORITHMS: dict[str, frozenset[Algorithm]] = {
    "local": ALL_ALGORITHMS,
    "mock": frozenset({Algorithm.HMAC_SHA256}),
    "aws-kms": ALL_ALGORITHMS,
    "vault": ALL_ALGORITHMS,
    "yubihsm": ALL_ALGORITHMS,
    "signing-proxy": ALL_ALGORITHMS,
}
"""Algorithms each backend kind supports; a backend x algorithm pair outside this is never generated."""

DEDICATED_KINDS = frozenset({"signing-proxy"})
"""Kinds whose running instance holds one key ring for one algorithm: every signer gets its own
instance (started with option ``alg``), so rotating or revoking never disturbs another check."""


def backend_algorithms(kind: str) -> frozenset[Algorithm]:
    """Algorithms of a backend kind; unknown (third-party) kinds are tried with every algorithm."""
    return BACKEND_KIND_ALGORITHMS.get(kind, ALL_ALGORITHMS)


@dataclass(frozen=True)
class Capabilities:
    """What an implementation declares.

    :param features: the :class:`Capability` members it offers.
    :param algorithms: algorithms its signers and verifiers handle.
    :param backends: backend kinds (``local``, ``aws-kms``, ...) its signer factory accepts.
    """

    features: frozenset[Capability]
    algorithms: frozenset[Algorithm] = ALL_ALGORITHMS
    backends: frozenset[str] = frozenset(BACKEND_KIND_ALGORITHMS)

    @classmethod
    def of(
        cls,
        features: Iterable[Capability | str],
        algorithms: Iterable[Algorithm | str] = ALL_ALGORITHMS,
        backends: Iterable[str] = BACKEND_KIND_ALGORITHMS,
    ) -> Capabilities:
        """Build from names; unknown names raise ``ValueError`` listing the known ones."""
        try:
            feats = frozenset(Capability(f) for f in features)
        except ValueError:
            known = ", ".join(c.value for c in Capability)
            raise ValueError(f"unknown capability in {list(features)!r}; known: {known}") from None
        return cls(
            features=feats,
            algorithms=frozenset(Algorithm.parse(str(a)) for a in algorithms),
            backends=frozenset(backends),
        )

    def missing(
        self, requires: Iterable[Capability], *, backend_kind: str | None = None, alg: Algorithm | None = None
    ) -> str | None:
        """Why a check needing ``requires`` on this backend/algorithm is not applicable, or ``None``."""
        absent = sorted(c.value for c in requires if c not in self.features)
        if absent:
            return f"capability {', '.join(absent)} not declared"
        if backend_kind is not None and backend_kind not in self.backends:
            return f"backend kind {backend_kind} not declared"
        if alg is not None and alg not in self.algorithms:
            return f"algorithm {alg.value} not declared"
        return None
