"""The reference implementation's ``policy`` capability: the reference signing proxy behind its
policy gate, on 127.0.0.1, signing through the suite's signer, reached over HTTP.

So every KC-POL check goes through the proxy's real wire (``docs/policy.md``): the gate under test
is exactly what ``kmsconform emulate signing-proxy --policy FILE`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pytest_kmsconform.adapter import ImplSigner
from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy
from pytest_kmsconform.emulators.signing_proxy.gate import PolicyGate
from pytest_kmsconform.emulators.signing_proxy.policy_config import PolicyConfig, policy_from_mapping
from pytest_kmsconform.emulators.signing_proxy.provider import serve_proxy
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.policy_client import PolicyClient
from pytest_kmsconform.reference_impl.signature import Signature

GateFactory = Callable[[PolicyConfig], PolicyGate]


class _Signer:
    """An adapter signer as a reference ``Signer`` (the proxy's model wants ``backend``)."""

    def __init__(self, inner: ImplSigner) -> None:
        self.inner = inner

    @property
    def backend(self) -> str:
        return "adapter"

    @property
    def alg(self) -> Algorithm:
        return self.inner.alg

    @property
    def kid(self) -> str:
        return self.inner.kid

    def sign_digest(self, digest: bytes) -> Signature:
        return self.inner.sign_digest(digest)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.inner.verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        return self.inner.jwks()

    def close(self) -> None:
        """The suite owns the signer."""


class ReferencePolicyGate:
    """A running policy-gated proxy and its HTTP client; ``close()`` stops the proxy (the state
    directory stays, so a new gate on it is a restart)."""

    def __init__(
        self, signer: ImplSigner, policy: Mapping[str, Any], state_dir: Path, *, gate_factory: GateFactory = PolicyGate
    ) -> None:
        config = policy_from_mapping(policy, Path(state_dir))
        self._stack = ExitStack()
        no_keys = AuthPolicy(api_key=None, admin_key=None)  # the policy's tokens authenticate
        server, _ = self._stack.enter_context(
            serve_proxy(_Signer(signer), no_keys, policy=config, gate_factory=gate_factory)
        )
        self.client = PolicyClient(server.url)

    def sign_hash(self, token: str | None, digest: bytes) -> Signature:
        return self.client.sign_hash(token, digest)

    def sign_canonical(self, token: str | None, canonical: bytes, prev_hash: str | None = None) -> Signature:
        return self.client.sign_canonical(token, canonical, prev_hash)

    def set_kill_switch(self, admin_token: str | None, engaged: bool) -> None:
        self.client.set_kill_switch(admin_token, engaged)

    def audit(self, admin_token: str | None) -> tuple[Sequence[Mapping[str, Any]], Mapping[str, Any]]:
        return self.client.audit(admin_token)

    def metrics(self) -> str:
        return self.client.metrics()

    def close(self) -> None:
        self._stack.close()
