"""What an implementation says it can do, and which algorithms each backend kind can sign with.

An adapter declares a :class:`Capabilities` value. A check names the capabilities it needs
(``requires=``); when one is missing the check is reported *not applicable* with a reason naming
the capability and the backend, never passed. A declared capability that misbehaves fails.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from pytest_kmsconform import kinds
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
    DB_VERIFIER = "db_verifier"
    """``verify_database(url, jwks, limit=)``: seed 001's verifyTool over a store in kmsconform's schema."""
    SIGNING_EVENTS = "signing_events"
    """``signing_events()``: the structured event each signing operation emits (seed 000), captured."""
    ENVELOPE = "envelope_persistence"
    """``envelope_store(handle, path, kms_key_id=)``: keys sealed under a KMS data key in SQLite (aws-kms only)."""
    POLICY = "policy"
    """``policy_gate(signer, policy, state_dir)``: a signing API behind seed 003's five gates (docs/policy.md)."""
    DELEGATION = "delegation"
    """``delegation_issuer(signer, name)`` and ``delegation_verifier(trusted_roots)``: seed 002's certificates."""
    CONFIGURED_SIGNER = "configured_signer"
    """``configured_signer(env, clock=)``: the signer a service builds from its environment, on an existing key."""
    WEB_IDENTITY = "web_identity"
    """``configured_signer`` honours ``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE`` (seed 000: CI OIDC)."""


ALL_ALGORITHMS = kinds.ALL_ALGORITHMS
CLASSIC_ALGORITHMS = kinds.CLASSIC_ALGORITHMS


def backend_algorithms(kind: str) -> frozenset[Algorithm]:
    """Algorithms of a backend kind (:mod:`pytest_kmsconform.kinds`); unknown kinds are tried with the five
    algorithms of contract version 1."""
    return kinds.algorithms(kind)


def every_kind() -> frozenset[str]:
    """The names of every registered backend kind."""
    return frozenset(kinds.names())


@dataclass(frozen=True)
class Capabilities:
    """What an implementation declares.

    :param features: the :class:`Capability` members it offers.
    :param algorithms: algorithms its signers and verifiers handle (default: contract version 1's five;
        ML-DSA is offered only by listing it).
    :param backends: backend kinds (:mod:`pytest_kmsconform.kinds`) its signer factory accepts
        (default: every registered kind).
    """

    features: frozenset[Capability]
    algorithms: frozenset[Algorithm] = CLASSIC_ALGORITHMS
    backends: frozenset[str] = field(default_factory=every_kind)

    @classmethod
    def of(
        cls,
        features: Iterable[Capability | str],
        algorithms: Iterable[Algorithm | str] = CLASSIC_ALGORITHMS,
        backends: Iterable[str] | None = None,
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
            backends=every_kind() if backends is None else frozenset(backends),
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
