"""The adapter for ``--kmsconform-impl=reference``: the reference implementation behind the protocol.

Signers are :class:`~pytest_kmsconform.reference_impl.keyring.RingSigner` key rings over each
backend's ``KeyBackend`` (local, mock, aws-kms, vault, yubihsm); the signing proxy holds its own
keys and is reached through its client plus the admin endpoints (rotate, revoke). The verifier is
the air-gapped :class:`~pytest_kmsconform.reference_impl.verifier.Verifier`, the audit log the
SQLite store, the guard :func:`~pytest_kmsconform.reference_impl.guard.start_service`, envelope
persistence :class:`~pytest_kmsconform.reference_impl.envelope.EnvelopeStore` (aws-kms only), the
policy gate the reference signing proxy behind its gate (:mod:`pytest_kmsconform.reference_policy`),
delegation :mod:`pytest_kmsconform.reference_impl.delegation`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_kmsconform import PRODUCER, __version__, kinds
from pytest_kmsconform.adapter import (
    Finding,
    ImplAuditLog,
    ImplChainVerifier,
    ImplementationBase,
    ImplEnvelopeStore,
    ImplIssuer,
    ImplMultisig,
    ImplPolicyGate,
    ImplSigner,
    ServiceHandle,
)
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.key_backends import key_backend_for, kms_client_for
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit.archive import export_archive
from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
from pytest_kmsconform.reference_impl.clock import Clock, format_time
from pytest_kmsconform.reference_impl.errors import ConfigurationError
from pytest_kmsconform.reference_impl.jwk import private_key_from_pem_or_der, private_key_pem, public_key_pem
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import generate_private_key
from pytest_kmsconform.reference_impl.retry import Retrier, RetryingKeyBackend, RetryingSigner
from pytest_kmsconform.reference_impl.signer import DelegatingSigner, KeyBackend, Signer
from pytest_kmsconform.reference_impl.verifier import Verifier

EventSink = Callable[[dict[str, Any]], None]


class _Sinks:
    """Audit logs attached to a signer: key events are appended to each of them."""

    def __init__(self) -> None:
        self._sinks: list[EventSink] = []
        self._lock = threading.Lock()

    def add(self, sink: EventSink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def remove(self, sink: EventSink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            sink(event)


class RingAdapterSigner(DelegatingSigner):
    """A :class:`RingSigner` with rotate/revoke; key events go to attached audit logs (the key ring
    reports them once each transition is complete)."""

    def __init__(self, ring: KeyRing) -> None:
        super().__init__(RingSigner(ring))
        self.ring = ring
        self.sinks = _Sinks()
        ring.event_sink = self.sinks.emit

    def rotate(self) -> str:
        return self.ring.rotate(activate=True).kid

    def revoke(self, kid: str, reason: str) -> None:
        self.ring.revoke(kid, reason)


class ProxyAdapterSigner(DelegatingSigner):
    """The signing-proxy client plus its admin endpoints; the proxy's key events are mirrored into
    attached audit logs from here, since the proxy keeps its own ring."""

    def __init__(self, handle: BackendHandle, retrier: Retrier | None = None) -> None:
        from pytest_kmsconform.reference_impl.backends.signing_proxy import SigningProxyAdmin, signer_from_env

        client = signer_from_env(handle.env)
        admin_key = handle.env.get("SIGNING_PROXY_ADMIN_KEY")
        self.admin = SigningProxyAdmin(client, admin_key) if admin_key else None
        # Transient proxy failures (429, 5xx, resets) are retried with bounded backoff.
        super().__init__(RetryingSigner(client, retrier))
        self.sinks = _Sinks()

    def _admin(self) -> Any:
        if self.admin is None:
            raise ConfigurationError("the signing proxy handle carries no SIGNING_PROXY_ADMIN_KEY")
        return self.admin

    def _event(self, kind: str, kid: str, **extra: Any) -> None:
        now = format_time(datetime.now(UTC))
        self.sinks.emit({"type": f"key.{kind}", "kid": kid, "backend": self.backend, "at": now, **extra})

    def rotate(self) -> str:
        result = self._admin().rotate()
        kid = result.get("kid") if isinstance(result, dict) else None
        new_kid = kid if isinstance(kid, str) else self.inner.kid
        self._event("activated", new_kid)
        return new_kid

    def revoke(self, kid: str, reason: str) -> None:
        self._admin().revoke(kid, reason)
        self._event("revoked", kid, reason=reason)


class ConfiguredAdapterSigner(DelegatingSigner):
    """A signer built from the environment (:func:`~pytest_kmsconform.reference_impl.config.signer_from_env`):
    its key is the operator's, so rotation and revocation happen in the backend, not here."""

    def rotate(self) -> str:
        raise ConfigurationError(f"{self.kid}: a configured key is rotated by its operator, in {self.backend}")

    def revoke(self, kid: str, reason: str) -> None:
        raise ConfigurationError(f"{kid}: a configured key is revoked by its operator, in {self.backend}")


class ReferenceAuditLog:
    """The SQLite audit store; key events of the signer are appended while it is open."""

    def __init__(self, signer: ImplSigner, path: Path) -> None:
        self._signer = signer
        self.store = SqliteAuditStore(path, _as_signer(signer))
        self._sinks: _Sinks | None = getattr(signer, "sinks", None)
        if self._sinks is not None:
            self._sinks.add(self.store.record_key_event)

    def append(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        return self.store.append(dict(payload)).to_json()

    def records(self) -> Sequence[Mapping[str, Any]]:
        return [r.to_json() for r in self.store.records()]

    def export_archive(self, dest: Path) -> None:
        export_archive(self.store, dest, _as_signer(self._signer), producer=PRODUCER)

    def close(self) -> None:
        if self._sinks is not None:
            self._sinks.remove(self.store.record_key_event)
        self.store.close()


def _as_signer(signer: ImplSigner) -> Signer:
    if not isinstance(signer, Signer):
        raise ConfigurationError(f"{type(signer).__name__} is not a reference Signer")
    return signer


class ReferenceMultisig:
    def verify_manifest(self, manifest: Mapping[str, Any], jwks: Mapping[str, Any]) -> Sequence[str]:
        from pytest_kmsconform.reference_impl.multisig import verify_manifest

        return list(verify_manifest(manifest, Verifier(jwks)).valid)


class ReferenceEnvelopeStore:
    """:class:`EnvelopeStore` behind the adapter protocol: keys in and out as PKCS#8 PEM."""

    def __init__(self, handle: BackendHandle, path: Path, kms_key_id: str) -> None:
        if handle.kind != kinds.AWS_KMS:
            raise ConfigurationError(f"envelope persistence needs an aws-kms backend, not {handle.kind}")
        from pytest_kmsconform.reference_impl.envelope import EnvelopeStore

        self.store = EnvelopeStore(kms_client_for(handle), kms_key_id, path)

    def seal(self, record_id: int, private_key_pem: bytes) -> None:
        self.store.seal(record_id, private_key_from_pem_or_der(private_key_pem))

    def generate(self, record_id: int, alg: Algorithm) -> bytes:
        key = generate_private_key(alg)
        self.store.seal(record_id, key)
        return public_key_pem(key.public_key())

    def load(self, record_id: int) -> bytes:
        return private_key_pem(self.store.load(record_id))

    def close(self) -> None:
        self.store.close()


class ReferenceIssuer:
    """:func:`~pytest_kmsconform.reference_impl.delegation.issue` over the signer as a ``VaultSigner``."""

    def __init__(self, signer: ImplSigner, name: str) -> None:
        from pytest_kmsconform.reference_impl.delegation import SignerVault

        self.vault = SignerVault(signer)
        self.name = name

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
        from pytest_kmsconform.reference_impl.delegation import issue

        return issue(
            self.vault,
            issuer=self.name,
            subject=subject,
            subject_key=subject_key,
            capabilities=capabilities,
            not_before=not_before,
            not_after=not_after,
            parent=parent,
        )


class ReferenceImplementation(ImplementationBase):
    """The reference implementation; every capability (envelope persistence on aws-kms only)."""

    name = "pytest-kmsconform reference"
    version = __version__

    def capabilities(self) -> Capabilities:
        features = frozenset(Capability)
        return Capabilities(features=features, algorithms=frozenset(Algorithm), backends=served_kinds())

    _backoff: tuple[Callable[[float], None], Callable[[], float]] | None = None

    @contextmanager
    def virtual_backoff(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> Iterator[None]:
        """Signers made while open back off through ``sleep``/``clock`` (the REL suite's recorder)."""
        previous, self._backoff = self._backoff, (sleep, clock)
        try:
            yield
        finally:
            self._backoff = previous

    def _retrier(self) -> Retrier:
        if self._backoff is None:
            return Retrier()
        sleep, clock = self._backoff
        return Retrier(sleep=sleep, clock=clock)

    def key_backend(self, handle: BackendHandle) -> KeyBackend:
        """The kind's reference key backend (:mod:`pytest_kmsconform.kinds`)."""
        return key_backend_for(handle)

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        if handle.kind == kinds.SIGNING_PROXY:
            proxy = ProxyAdapterSigner(handle, self._retrier())
            if proxy.alg is not alg:
                raise ConfigurationError(f"the signing proxy signs {proxy.alg.value}, not {alg.value}")
            return proxy
        # Bounded retry with backoff on throttling and transient backend errors (never on key creation).
        ring = KeyRing(RetryingKeyBackend(self.key_backend(handle), self._retrier()), alg, label)
        ring.rotate()
        return RingAdapterSigner(ring)

    def verifier(self, jwks: Mapping[str, Any]) -> Verifier:
        return Verifier(jwks)

    def signing_events(self) -> AbstractContextManager[Sequence[Mapping[str, Any]]]:
        from pytest_kmsconform.reference_impl.signing_events import capture

        return capture()

    def verify_database(self, url: str, jwks: Mapping[str, Any], *, limit: int | None = None) -> Sequence[Finding]:
        from pytest_kmsconform.reference_impl.audit.database import open_database
        from pytest_kmsconform.reference_impl.audit.dbverify import verify_database

        with open_database(url) as db:
            return verify_database(db, Verifier(jwks), limit=limit).findings

    def verifier_command(self, archive: Path, jwks: Path) -> Sequence[str]:
        # ``kmsconform verify-archive`` without loading every other subcommand
        code = (
            "import argparse, sys; from pytest_kmsconform.cli.verify_archive import COMMAND as c; "
            "p = argparse.ArgumentParser(prog='kmsconform verify-archive'); c.add_arguments(p); "
            "sys.exit(c.run(p.parse_args()))"
        )
        return [sys.executable, "-c", code, str(archive), "--keys", str(jwks)]

    def audit_log(self, signer: ImplSigner, path: Path) -> ImplAuditLog:
        return ReferenceAuditLog(signer, path)

    def start_service(self, env: Mapping[str, str]) -> ServiceHandle:
        from pytest_kmsconform.reference_impl.guard import start_service

        return start_service(env)

    def service_command(self) -> Sequence[str]:
        return [sys.executable, "-m", "pytest_kmsconform.reference_impl.service", "--check"]

    def multisig(self) -> ImplMultisig:
        return ReferenceMultisig()

    def envelope_store(self, handle: BackendHandle, path: Path, *, kms_key_id: str) -> ImplEnvelopeStore:
        return ReferenceEnvelopeStore(handle, path, kms_key_id)

    def delegation_issuer(self, signer: ImplSigner, name: str) -> ImplIssuer:
        return ReferenceIssuer(signer, name)

    def delegation_verifier(self, trusted_roots: Mapping[str, Any]) -> ImplChainVerifier:
        from pytest_kmsconform.reference_impl.delegation import ChainVerifier

        return ChainVerifier(trusted_roots)

    def policy_gate(self, signer: ImplSigner, policy: Mapping[str, Any], state_dir: Path) -> ImplPolicyGate:
        from pytest_kmsconform.reference_policy import ReferencePolicyGate

        return ReferencePolicyGate(signer, policy, state_dir)

    def configured_signer(self, env: Mapping[str, str], *, clock: Clock) -> ImplSigner:
        """The signer seed 001's variables select (:func:`~pytest_kmsconform.reference_impl.config.choose_signer`);
        AWS KMS credentials, web identity ones included, are refreshed on ``clock``."""
        from pytest_kmsconform.reference_impl.config import build_signer, choose_signer

        choice = choose_signer(env)
        if choice is None:
            raise ConfigurationError("the environment configures no audit signer")
        if choice.backend == kinds.AWS_KMS:
            from pytest_kmsconform.reference_impl.backends.aws_kms import signer_from_env

            return ConfiguredAdapterSigner(signer_from_env(env, clock=clock))
        return ConfiguredAdapterSigner(build_signer(choice, env))


def served_kinds() -> frozenset[str]:
    """Kinds the reference signs on: every kind with a reference key backend, and the signing proxy."""
    return frozenset(k.name for k in kinds.all_kinds() if k.key_backend is not None or k.name == kinds.SIGNING_PROXY)


def load(spec: str) -> ReferenceImplementation:
    """Loader for the ``reference`` scheme."""
    return ReferenceImplementation()
