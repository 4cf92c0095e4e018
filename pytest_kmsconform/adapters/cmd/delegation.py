"""The ``delegation`` capability over the protocol (1.1): issuing in the main child, chain
verification in the verifier child (in an empty network namespace when permitted).

An issuer signing with a signer that is not one of the child's own (the suite's agents hold
reference keys) gives it as a host signer: the child reads its current key with ``host.keyset``
and signs with ``host.sign``, on every issue. Refusals are ``DELEGATION_REFUSED`` answers with the
chain code (:class:`~pytest_kmsconform.reference_impl.delegation.DelegationError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pytest_kmsconform.adapter import ImplSigner
from pytest_kmsconform.reference_impl.clock import format_time

if TYPE_CHECKING:
    from .adapter import CmdImplementation


class CmdIssuer:
    """``delegation.issue`` with one signer and issuer name."""

    def __init__(self, impl: CmdImplementation, signer: ImplSigner, name: str) -> None:
        self._impl, self._signer, self.name = impl, signer, name

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
        ref, host_id = self._impl.signer_ref(self._signer)
        try:
            answer = self._impl.main.request(
                "delegation.issue",
                name=self.name,
                subject=subject,
                subject_key=dict(subject_key),
                capabilities=list(capabilities),
                not_before=format_time(not_before),
                not_after=format_time(not_after),
                parent=None if parent is None else dict(parent),
                **ref,
            )
        finally:
            if host_id is not None:
                self._impl.hosts.remove(host_id)
        certificate: Mapping[str, Any] = answer["certificate"]
        return certificate


class CmdChainVerifier:
    """``delegation.verify`` against one set of trusted root keys."""

    def __init__(self, impl: CmdImplementation, trusted_roots: Mapping[str, Any]) -> None:
        self._impl, self._roots = impl, dict(trusted_roots)

    def verify_chain(self, chain: Sequence[Mapping[str, Any]], *, at: datetime | None = None) -> Sequence[str]:
        when = None if at is None else format_time(at)
        answer = self._impl.offline_child().request(
            "delegation.verify", roots=self._roots, chain=[dict(c) for c in chain], at=when
        )
        return [str(c) for c in answer["capabilities"]]
