"""The ``policy`` capability over the protocol (1.1): a policy gate living in the child.

The gate signs only through the signer it is given. The policy suite gives a counting wrapper of
one of the child's own signers, so it is a host signer: each signature the gate makes is a
``host.sign`` callback, which is how the suite sees every call that reaches the key backend.
Refusals are ``POLICY_DENIED`` answers carrying the gate's wire code (:class:`.errors.PolicyRefused`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_kmsconform.adapter import ImplSigner
from pytest_kmsconform.reference_impl.signature import Signature

if TYPE_CHECKING:
    from .adapter import CmdImplementation


class CmdPolicyGate:
    """``policy.*`` requests on one gate of the main child; ``close()`` stops it (its state
    directory stays, so a new gate on it is a restart)."""

    def __init__(self, impl: CmdImplementation, gate_id: str, host_id: str | None) -> None:
        self._impl, self.id, self._host_id = impl, gate_id, host_id

    @classmethod
    def open(
        cls, impl: CmdImplementation, signer: ImplSigner, policy: Mapping[str, Any], state_dir: Path
    ) -> CmdPolicyGate:
        ref, host_id = impl.signer_ref(signer)
        try:
            answer = impl.main.request(
                "policy.open", policy=dict(policy), state_dir=str(Path(state_dir).resolve()), **ref
            )
        except BaseException:
            if host_id is not None:
                impl.hosts.remove(host_id)
            raise
        return cls(impl, str(answer["gate"]), host_id)

    def _request(self, op: str, **params: Any) -> dict[str, Any]:
        return self._impl.main.request(op, gate=self.id, **params)

    def sign_hash(self, token: str | None, digest: bytes) -> Signature:
        return Signature.from_json(self._request("policy.sign_hash", token=token, digest=digest.hex())["signature"])

    def sign_canonical(self, token: str | None, canonical: bytes, prev_hash: str | None = None) -> Signature:
        answer = self._request(
            "policy.sign_canonical", token=token, canonical=canonical.decode("utf-8"), prev_hash=prev_hash
        )
        return Signature.from_json(answer["signature"])

    def set_kill_switch(self, admin_token: str | None, engaged: bool) -> None:
        self._request("policy.kill_switch", admin_token=admin_token, engaged=engaged)

    def audit(self, admin_token: str | None) -> tuple[Sequence[Mapping[str, Any]], Mapping[str, Any]]:
        answer = self._request("policy.audit", admin_token=admin_token)
        return list(answer["records"]), dict(answer["jwks"])

    def metrics(self) -> str:
        return str(self._request("policy.metrics")["text"])

    def close(self) -> None:
        try:
            if self._impl.main.proc.poll() is None:
                self._request("policy.close")
        finally:
            if self._host_id is not None:
                self._impl.hosts.remove(self._host_id)
