"""Mutants reached through the adapters: the reference signing proxy as a server process certified
through ``--kmsconform-impl=http://...`` (the mutant is applied in the server process), the same
proxy as an in-process ``signing-proxy`` backend (the mutant runs in its server threads), and the
Node.js ``cmd:`` child (not Python: its broken variant is switched on by its environment)."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from pathlib import Path
from typing import Any

from pytest_kmsconform.mutation import mutant

SERVICE = "pytest_kmsconform.emulators.signing_proxy.models:ProxyService"


@mutant(
    "pytest_kmsconform.reference_impl.backends.local:verify_hmac",
    bug="truncated MAC over HTTP: the proxy's /verify compares a tag with the expected tag's prefix",
    violates="docs/spec.md section 1 (truncated tags never accepted); RFC 2104 section 5",
    impl="http",
    env={"SIGNING_PROXY_ALG": "hmac-sha256"},
    select="signing",
    fast=True,
)
def proxy_truncated_mac(original: Any) -> Any:
    from pytest_kmsconform.reference_impl.errors import InvalidSignature

    def verify_hmac(secret: bytes, digest: bytes, tag: bytes) -> None:
        expected = hmac.new(secret, digest, hashlib.sha256).digest()
        if not hmac.compare_digest(expected[: len(tag)], tag):
            raise InvalidSignature("hmac-sha256 tag does not verify")

    return verify_hmac


@mutant(
    f"{SERVICE}.rotate",
    bug="proxy rotation: /admin/rotate creates the new version but leaves the old one signing",
    violates="seed 000 (Rotation steps 1-2); docs/signing-proxy.md (/admin/rotate activates)",
    impl="http",
    select="rotation",
)
def proxy_rotate_without_activation(original: Any) -> Any:
    def rotate(self: Any) -> Any:
        ring = self._require_ring()
        previous = self.signer.kid
        version = ring.rotate(activate=False)
        return version, previous

    return rotate


@mutant(
    f"{SERVICE}.revoke",
    bug="proxy revocation: /admin/revoke is logged and acknowledged, nothing is revoked",
    violates="seed 000 (Revoke compromised keys immediately)",
    impl="http",
    select="revocation",
)
def proxy_revoke_is_a_no_op(original: Any) -> Any:
    def revoke(self: Any, kid: str, reason: str) -> Any:
        return self._require_ring().get(kid)

    return revoke


@mutant(
    f"{SERVICE}.sign_hash",
    bug="proxy (in-process server threads): signatures labelled with the proxy's first kid forever",
    violates="seed 000 (key-version identifier on every signature)",
    backends=("signing-proxy",),
    select="rotation",
)
def proxy_stale_kid_label(original: Any) -> Any:
    from pytest_kmsconform.reference_impl.signature import Signature

    def sign_hash(self: Any, digest: bytes, request_id: str | None = None) -> Any:
        signature = original(self, digest, request_id)
        first = self.__dict__.setdefault("_mutant_first_kid", signature.kid)
        return Signature(first, signature.alg, signature.value)

    return sign_hash


NODE = shutil.which("node")
SIGNER = Path(__file__).resolve().parents[2] / "examples" / "node-signer" / "signer.js"


@mutant(
    "pytest_kmsconform.adapters.cmd.adapter:load",
    bug="cmd: child: the Node example's verifier accepts any signature (its broken variant)",
    violates="seed 001 (Verification); docs/protocol.md (rejection is an error answer)",
    impl=f"cmd:{NODE or 'node'} {SIGNER}",
    switch={"KMSCONFORM_NODE_BROKEN": "accept-any-signature"},
    select="signing",
)
def node_child_accepts_any_signature(original: Any) -> Any:
    return original  # the defect is in the child, switched on by env (the target only marks the adapter in use)
