"""Mutants reached through the adapters: the reference signing proxy as a server process certified
through ``--kmsconform-impl=http://...`` (the mutant is applied in the server process; with
``impl="http-policy"`` behind its policy gate, for the KC-POL checks of a running service), the same
proxy as an in-process ``signing-proxy`` backend (the mutant runs in its server threads), the
Node.js ``cmd:`` child (not Python: its broken variant is switched on by its environment), and the
reference implementation as a ``cmd:`` child (``REFERENCE_CHILD``: the mutant is applied in the
child, which inherits the environment; protocol 1.1's policy and delegation ops included)."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import sys
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


REFERENCE_CHILD = f"cmd:{sys.executable} -m pytest_kmsconform.adapters.cmd.reference_child"
SERVER = "pytest_kmsconform.adapters.cmd.implementation_server"


@mutant(
    f"{SERVER}:ImplementationServer.delegation_verify",
    bug="cmd: child: delegation.verify drops the optional at member and verifies as of now",
    violates="docs/protocol.md (delegation.verify at); docs/spec.md section 12 (validity at a given time)",
    impl=REFERENCE_CHILD,
    select="delegation",
    fast=True,
)
def child_verify_drops_at(original: Any) -> Any:
    def delegation_verify(self: Any, m: Any) -> Any:
        return original(self, {**m, "at": None})

    return delegation_verify


@mutant(
    f"{SERVER}:_code_of",
    bug="cmd: child: every policy refusal is answered with one generic code instead of the gate's",
    violates="docs/protocol.md (POLICY_DENIED carries policy_code); docs/policy.md (compare codes)",
    impl=REFERENCE_CHILD,
    select="policy",
)
def child_policy_codes_dropped(original: Any) -> Any:
    def code_of(exc: BaseException) -> str | None:
        return "DENIED" if original(exc) is not None else None

    return code_of


@mutant(
    f"{SERVER}:ImplementationServer._signer",
    bug="cmd: child: a host signer whose kid is one of the child's own keys is short-cut to that key, "
    "so the host's wrapper (the policy suite's backend-call counter) never sees the calls",
    violates="docs/protocol.md (host signers sign through host.sign); seed 003 (count backend calls)",
    impl=REFERENCE_CHILD,
    select="policy",
)
def child_signs_host_requests_itself(original: Any) -> Any:
    def signer(self: Any, m: Any) -> Any:
        chosen = original(self, m)
        if "host_signer" not in m:
            return chosen
        wanted = chosen.kid
        for kind, value in list(self._handles.values()):
            if kind == "signer" and value.alg is chosen.alg and value.kid == wanted:
                return value
        return chosen

    return signer


@mutant(
    "pytest_kmsconform.reference_adapter:ReferenceIssuer.issue",
    bug="cmd: child: the reference issuer signs whatever it is asked (no narrowing, no window check)",
    violates="seed 002 (each sub-certificate narrows capabilities); docs/spec.md section 12",
    impl=REFERENCE_CHILD,
    select="delegation",
)
def child_issuer_skips_checks(original: Any) -> Any:
    def issue(self: Any, **kwargs: Any) -> Any:
        from pytest_kmsconform.reference_impl.clock import format_time
        from pytest_kmsconform.reference_impl.delegation import FORMAT, cert_digest, sign_certificate

        parent = kwargs.get("parent")
        body = {
            "format": FORMAT,
            "serial": "unchecked",
            "issuer": self.name,
            "subject": kwargs["subject"],
            "subject_key": dict(kwargs["subject_key"]),
            "capabilities": sorted(set(kwargs["capabilities"])),
            "not_before": format_time(kwargs["not_before"]),
            "not_after": format_time(kwargs["not_after"]),
            "parent": None if parent is None else cert_digest(parent),
        }
        return sign_certificate(body, self.vault)

    return issue


@mutant(
    "pytest_kmsconform.emulators.signing_proxy.policy:PolicyEngine.kill_switch_engaged",
    bug="cmd: child: the gate looks at the kill-switch file once and caches the answer (to save a stat)",
    violates="seed 003 (kill switch: an operator's file); docs/policy.md (checked on every request)",
    impl=REFERENCE_CHILD,
    select="kill_switch",
)
def child_kill_switch_file_ignored(original: Any) -> Any:
    def kill_switch_engaged(self: Any) -> bool:
        if "_mutant_engaged" not in self.__dict__:
            self.__dict__["_mutant_engaged"] = original(self)
        return bool(self.__dict__["_mutant_engaged"])

    return kill_switch_engaged


@mutant(
    "pytest_kmsconform.emulators.signing_proxy.gate:PolicyGate.sign",
    bug="running policy-gated proxy: signs speculatively before the policy decides (to save latency), "
    "dropping the signature when the request is refused",
    violates="seed 003 (five gates before the key; no denial reaches the key backend)",
    impl="http-policy",
    select="test_policy",
)
def proxy_signs_before_policy(original: Any) -> Any:
    def sign(self: Any, client: Any, request: Any, request_id: Any, do_sign: Any, describe: Any) -> Any:
        self._backend(request, do_sign)
        return original(self, client, request, request_id, do_sign, describe)

    return sign
