"""The adapter protocol: how the suites reach an implementation under test (``docs/adapter.md``).

An implementation is any object with the :class:`Implementation` shape. It declares its
:class:`~pytest_kmsconform.capabilities.Capabilities` and offers factories; the suites call only
the factories whose capability is declared. Subclass :class:`ImplementationBase` to get the
bookkeeping (undeclared factories raise :class:`UndeclaredCapability`).

Rejection is always an exception: a verifier that rejects a signature raises, a signer that
refuses a revoked key raises, a guard that refuses to start raises (its message must contain
``Audit signing is required``, seed 001). Returning normally means acceptance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.signature import Signature


class AdapterError(Exception):
    """Base class of errors raised by the adapter layer itself."""


class UndeclaredCapability(AdapterError):
    """A factory was called for a capability the implementation did not declare."""

    def __init__(self, capability: Capability) -> None:
        super().__init__(f"capability {capability.value} is not declared by this implementation")
        self.capability = capability


@runtime_checkable
class ImplSigner(Protocol):
    """A signer on one backend, for one algorithm (the reference ``Signer`` plus rotate/revoke)."""

    @property
    def alg(self) -> Algorithm: ...

    @property
    def kid(self) -> str:
        """The key id new signatures carry."""
        ...

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte audit digest with the current key; raise when refusing."""
        ...

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        """Verify through the signer (the backend may be asked); raise on a bad signature."""
        ...

    def jwks(self) -> dict[str, Any]:
        """The public key set (RFC 7517 + ``status``/validity members); never symmetric keys."""
        ...

    def rotate(self) -> str:
        """(ROTATION) Create a new key version, make it sign, return its kid."""
        ...

    def revoke(self, kid: str, reason: str) -> None:
        """(REVOCATION) Revoke ``kid`` now: it never signs again and the key set says so."""
        ...

    def close(self) -> None: ...


class Finding(Protocol):
    """A verification finding: ``code`` (``HASH_MISMATCH``, ``CHAIN_BROKEN``, ...) and record index."""

    @property
    def code(self) -> Any: ...

    @property
    def index(self) -> int | None: ...


@runtime_checkable
class ImplVerifier(Protocol):
    """(VERIFIER) A verifier built from a key set alone; it must never touch the network."""

    def verify_signature(self, digest: bytes, signature: Signature, *, at: datetime | None = None) -> None:
        """Accept (return) or reject (raise); ``at`` is when the signature was made (default now)."""
        ...

    def verify_archive(self, path: Path) -> Sequence[Finding]:
        """Findings for an audit archive file (``kmsconform-audit-archive/1``); empty when intact."""
        ...


@runtime_checkable
class ImplAuditLog(Protocol):
    """(AUDIT_LOG) A hash-chained audit log signing each record before it commits."""

    def append(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """Sign and commit one record; return it as JSON (``seq``, ``prev_hash``, ``hash``, ...)."""
        ...

    def records(self) -> Sequence[Mapping[str, Any]]:
        """Every committed record, oldest first, as JSON objects."""
        ...

    def export_archive(self, dest: Path) -> None:
        """Write a ``kmsconform-audit-archive/1`` archive of every record to ``dest``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ImplMultisig(Protocol):
    """(MULTISIG) N-of-M approval by independent signatures (seed 001), manifests in the
    ``kmsconform-multisig/1`` format (``docs/spec.md``)."""

    def verify_manifest(self, manifest: Mapping[str, Any], jwks: Mapping[str, Any]) -> Sequence[str]:
        """Return the kids counted (each allowed signer once) when the threshold is met; raise otherwise."""
        ...


@runtime_checkable
class ImplEnvelopeStore(Protocol):
    """(ENVELOPE) Private keys sealed under a KMS data key in a SQLite database (seed 004).

    A data key from KMS ``GenerateDataKey`` encrypts the private key (AES-256-GCM); only the sealed
    data key and the ciphertext are stored. Opening asks KMS to ``Decrypt`` the data key every time.
    Keys cross this interface as PKCS#8 PEM; record ids are positive integers. The database holds
    seed 004's table ``enclave_master_keys`` (``enclave_id`` = record id), which the checks tamper with.
    """

    def seal(self, record_id: int, private_key_pem: bytes) -> None:
        """Seal the PKCS#8 PEM ``private_key_pem`` as the new record ``record_id``; raise if it exists."""
        ...

    def generate(self, record_id: int, alg: Algorithm) -> bytes:
        """Make a key pair for ``alg``, seal it as ``record_id``; return its public key (SPKI PEM)."""
        ...

    def load(self, record_id: int) -> bytes:
        """Open ``record_id`` (PKCS#8 PEM); raise when it is missing, altered or KMS refuses the data key."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ImplPolicyGate(Protocol):
    """(POLICY) A signing API behind seed 003's gates: auth, decode, policy, replay, sign (``docs/policy.md``).

    Every refusal raises an exception whose ``code`` attribute is the wire code of ``docs/policy.md``
    (``UNAUTHORIZED``, ``ENDPOINT_NOT_ALLOWED``, ``RATE_LIMITED``, ...); returning means it signed.
    """

    def sign_hash(self, token: str | None, digest: bytes) -> Signature:
        """``/sign/hash`` presenting the client token ``token`` (``None``: no token)."""
        ...

    def sign_canonical(self, token: str | None, canonical: bytes, prev_hash: str | None = None) -> Signature:
        """``/sign/canonical``: sign ``SHA256(canonical || prev_hash)`` if the policy allows ``canonical``."""
        ...

    def set_kill_switch(self, admin_token: str | None, engaged: bool) -> None:
        """Engage or release the kill switch with the admin token; raise when refused."""
        ...

    def audit(self, admin_token: str | None) -> tuple[Sequence[Mapping[str, Any]], Mapping[str, Any]]:
        """The audit log: its records (``docs/spec.md`` §5, oldest first) and the key set that verifies them."""
        ...

    def metrics(self) -> str:
        """``GET /metrics``: the Prometheus text exposition."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ImplIssuer(Protocol):
    """(DELEGATION) Issues ``kmsconform-delegation/1`` certificates signed by one signer (``docs/spec.md`` §12)."""

    def issue(
        self,
        *,
        subject: str,
        subject_key: Mapping[str, Any],
        capabilities: Sequence[str],
        not_before: datetime,
        not_after: datetime,
        parent: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """A certificate for ``subject`` (its key as a JWK with ``kid`` and ``alg``); a root passport
        without ``parent``. Raise rather than issue a child that widens or outlives ``parent``."""
        ...


@runtime_checkable
class ImplChainVerifier(Protocol):
    """(DELEGATION) Verifies chains from trusted root keys alone; it must never touch the network."""

    def verify_chain(self, chain: Sequence[Mapping[str, Any]], *, at: datetime | None = None) -> Sequence[str]:
        """Return the leaf's capabilities, or raise with a ``code`` attribute (``CAPABILITY_WIDENED``, ...)."""
        ...


@runtime_checkable
class ServiceHandle(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class Implementation(Protocol):
    """What ``--kmsconform-impl`` loads and the ``kmsconform_impl`` fixture returns."""

    name: str
    version: str

    def capabilities(self) -> Capabilities: ...

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        """(SIGN) A signer on the running backend ``handle`` with a fresh key called ``label``."""
        ...

    def verifier(self, jwks: Mapping[str, Any]) -> ImplVerifier: ...

    def verifier_command(self, archive: Path, jwks: Path) -> Sequence[str]:
        """(VERIFIER_COMMAND) argv that verifies ``archive`` with ``jwks``: exit 0 iff intact."""
        ...

    def audit_log(self, signer: ImplSigner, path: Path) -> ImplAuditLog:
        """(AUDIT_LOG) A log at ``path`` signing with ``signer``; several may share one path.

        Rotations and revocations made through ``signer`` afterwards are appended to it as records
        whose payload has ``type`` ``key.rotated``/``key.revoked`` (or ``key.created``, ...) and ``kid``.
        """
        ...

    def start_service(self, env: Mapping[str, str]) -> ServiceHandle:
        """(GUARD) Start the service with exactly ``env``; raise if the guard refuses."""
        ...

    def service_command(self) -> Sequence[str]:
        """(SERVICE_COMMAND) argv of the service's start-up check; non-zero exit means refused."""
        ...

    def multisig(self) -> ImplMultisig: ...

    def signing_events(self) -> AbstractContextManager[Sequence[Mapping[str, Any]]]:
        """(SIGNING_EVENTS) While the block runs, the events its signers emit (one per signing
        operation: ``correlation_id``, ``kid``, ``alg``, ``backend``, ``outcome``, ``latency_ms``, ...)
        are appended to the sequence it yields (``docs/operations.md``, signing events)."""
        ...

    def verify_database(self, url: str, jwks: Mapping[str, Any], *, limit: int | None = None) -> Sequence[Finding]:
        """(DB_VERIFIER) Findings for the audit store at ``url`` (``sqlite:///...``, ``postgresql://...``) in
        kmsconform's schema (``docs/spec.md`` §5 and §6a), ``index`` the row's seq; ``limit``: the newest rows
        only, anchored to a signed checkpoint. Empty when intact."""
        ...

    def envelope_store(self, handle: BackendHandle, path: Path, *, kms_key_id: str) -> ImplEnvelopeStore:
        """(ENVELOPE) A store on the SQLite file ``path`` sealing under ``kms_key_id`` of the aws-kms
        backend ``handle``. A second store on the same ``path`` is a restart: it must open what the
        first sealed, with nothing but the file and KMS."""
        ...

    def policy_gate(self, signer: ImplSigner, policy: Mapping[str, Any], state_dir: Path) -> ImplPolicyGate:
        """(POLICY) A gate enforcing ``policy`` (``kmsconform-policy/1`` as a mapping, relative paths
        under ``state_dir``) that signs only through ``signer``. A second gate on the same ``policy``
        and ``state_dir`` after ``close()`` is a restart: kill switch and caps must carry over."""
        ...

    def delegation_issuer(self, signer: ImplSigner, name: str) -> ImplIssuer:
        """(DELEGATION) An issuer called ``name`` signing with ``signer``, reading its current key on
        every issue (so certificates issued after a rotation embed the new key)."""
        ...

    def delegation_verifier(self, trusted_roots: Mapping[str, Any]) -> ImplChainVerifier:
        """(DELEGATION) A chain verifier trusting the root keys of the JWKS ``trusted_roots``."""
        ...

    def configured_signer(self, env: Mapping[str, str], *, clock: Callable[[], datetime]) -> ImplSigner:
        """(CONFIGURED_SIGNER) The signer the service builds from exactly ``env``, on a key that exists
        already (seed 001's variables: ``AUDIT_SIGNING_KMS_KEY_ID`` and AWS credentials, or
        ``VAULT_ADDR``, ``VAULT_TOKEN`` and ``AUDIT_SIGNING_VAULT_KEY``; ``AUDIT_SIGNING_ALG``), using
        no permission beyond what ``env``'s credentials carry. ``clock`` (aware UTC datetimes) is the
        time every credential decision reads, such as refreshing temporary credentials before they
        expire: the suites move it forward instead of sleeping. ``rotate`` and ``revoke`` are not called.

        (WEB_IDENTITY) With ``AWS_ROLE_ARN`` and ``AWS_WEB_IDENTITY_TOKEN_FILE`` instead of keys, the
        signer assumes the role with the token file's content (STS ``AssumeRoleWithWebIdentity``,
        re-reading the file each time) and keeps signing across the credentials' expiry."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class VirtualBackoff(Protocol):
    """Optional: an implementation whose retry backoff can run on a clock the suites give it.

    The reliability suite (``KC-REL-*``) then asserts the backoff itself (each retry after a
    retryable fault is preceded by a positive sleep) without waiting it out; an implementation
    without it is judged on its real sleeps, on survival and bounds alone.
    """

    def virtual_backoff(
        self, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> AbstractContextManager[None]:
        """While open, signers created by :meth:`Implementation.signer` back off by calling ``sleep``
        (never ``time.sleep``) and read time from ``clock`` (monotonic seconds, sleeps included)."""
        ...


class ImplementationBase:
    """Convenience base: undeclared factories raise :class:`UndeclaredCapability`."""

    name = "unnamed"
    version = "0"

    def capabilities(self) -> Capabilities:
        return Capabilities(features=frozenset())

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        raise UndeclaredCapability(Capability.SIGN)

    def verifier(self, jwks: Mapping[str, Any]) -> ImplVerifier:
        raise UndeclaredCapability(Capability.VERIFIER)

    def verifier_command(self, archive: Path, jwks: Path) -> Sequence[str]:
        raise UndeclaredCapability(Capability.VERIFIER_COMMAND)

    def audit_log(self, signer: ImplSigner, path: Path) -> ImplAuditLog:
        raise UndeclaredCapability(Capability.AUDIT_LOG)

    def start_service(self, env: Mapping[str, str]) -> ServiceHandle:
        raise UndeclaredCapability(Capability.GUARD)

    def service_command(self) -> Sequence[str]:
        raise UndeclaredCapability(Capability.SERVICE_COMMAND)

    def multisig(self) -> ImplMultisig:
        raise UndeclaredCapability(Capability.MULTISIG)

    def signing_events(self) -> AbstractContextManager[Sequence[Mapping[str, Any]]]:
        raise UndeclaredCapability(Capability.SIGNING_EVENTS)

    def verify_database(self, url: str, jwks: Mapping[str, Any], *, limit: int | None = None) -> Sequence[Finding]:
        raise UndeclaredCapability(Capability.DB_VERIFIER)

    def envelope_store(self, handle: BackendHandle, path: Path, *, kms_key_id: str) -> ImplEnvelopeStore:
        raise UndeclaredCapability(Capability.ENVELOPE)

    def policy_gate(self, signer: ImplSigner, policy: Mapping[str, Any], state_dir: Path) -> ImplPolicyGate:
        raise UndeclaredCapability(Capability.POLICY)

    def delegation_issuer(self, signer: ImplSigner, name: str) -> ImplIssuer:
        raise UndeclaredCapability(Capability.DELEGATION)

    def delegation_verifier(self, trusted_roots: Mapping[str, Any]) -> ImplChainVerifier:
        raise UndeclaredCapability(Capability.DELEGATION)

    def configured_signer(self, env: Mapping[str, str], *, clock: Callable[[], datetime]) -> ImplSigner:
        raise UndeclaredCapability(Capability.CONFIGURED_SIGNER)

    def close(self) -> None:
        """Nothing to release by default."""
