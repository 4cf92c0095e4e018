"""Suite 11, delegation certificates (seed 002): a chain issued through any backend verifies offline
from the embedded keys alone, and every bad chain (widened, outliving, expired, not yet valid,
re-parented, signed by the wrong key, tampered, untrusted root) is refused with its own code.

The good chain is root passport -> child -> grandchild, narrowing at each step. Bad chains are built
by the suite with the reference hazmat signer (``sign_certificate``), with exactly one defect each.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.clock import format_time
from pytest_kmsconform.reference_impl.delegation import (
    FORMAT,
    SignerVault,
    cert_digest,
    key_thumbprint,
    sign_certificate,
    verify_chain,
)
from pytest_kmsconform.reference_impl.signer import DelegatingSigner
from pytest_kmsconform.suites import _support as sup
from pytest_kmsconform.suites._policy import CountingSigner

from pytest_kmsconform.adapter import Implementation, ImplIssuer, ImplSigner
from pytest_kmsconform.airgap import network_blocked
from pytest_kmsconform.asserts import assert_accepts, assert_rejects
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import SignerFactory, implementation_calls

SIGN, DELEGATION, ROTATION = Capability.SIGN, Capability.DELEGATION, Capability.ROTATION
SOURCE = "seed 002 (Architecture overview; Air-gap guarantee)"
ROOT_CAPS = ["portfolio.read", "trade.*"]
CHILD_CAPS = ["portfolio.read", "trade.equity"]
LEAF_CAPS = ["trade.equity"]


class AgentSigner(DelegatingSigner):
    """An agent's own key: a reference local key ring, with the adapter's rotate/revoke."""

    def __init__(self, key: sup.ReferenceKey) -> None:
        super().__init__(key.signer)
        self.ring = key.ring

    def rotate(self) -> str:
        return self.ring.rotate(activate=True).kid

    def revoke(self, kid: str, reason: str) -> None:
        self.ring.revoke(kid, reason)


@dataclass
class Agent:
    """A subject with its own key (a reference local key): what it is called and how it signs."""

    name: str
    signer: ImplSigner

    @property
    def jwk(self) -> dict[str, Any]:
        return SignerVault(self.signer).get_verifying_key()

    @classmethod
    def create(cls, name: str, alg: Algorithm) -> Agent:
        return cls(name, AgentSigner(sup.ReferenceKey.create(alg, name, AGENT_KEYS)))


AGENT_KEYS = sup.KeyPool()


@pytest.fixture(autouse=True)
def _fresh_agent_keys() -> None:
    """Every agent of a check has a key of its own (RSA keys are reused across checks, see KeyPool)."""
    AGENT_KEYS.restart()


def window(now: datetime, start_h: float, end_h: float) -> tuple[datetime, datetime]:
    return now + timedelta(hours=start_h), now + timedelta(hours=end_h)


def body(
    issuer: str,
    subject: Agent,
    caps: Sequence[str],
    valid: tuple[datetime, datetime],
    parent: Mapping[str, Any] | None,
    serial: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "serial": serial,
        "issuer": issuer,
        "subject": subject.name,
        "subject_key": subject.jwk,
        "capabilities": sorted(caps),
        "not_before": format_time(valid[0]),
        "not_after": format_time(valid[1]),
        "parent": None if parent is None else cert_digest(parent),
    }


@dataclass
class Chain:
    """A good three-level chain made by the suite (reference hazmat), and what made it."""

    root: Agent
    bot: Agent
    sub: Agent
    leaf_agent: Agent
    certs: list[dict[str, Any]]
    now: datetime

    @property
    def roots(self) -> dict[str, Any]:
        return {"keys": [self.root.jwk]}

    def cert(
        self,
        issuer: Agent,
        subject: Agent,
        caps: Sequence[str],
        valid: tuple[datetime, datetime],
        parent: Mapping[str, Any] | None,
        serial: str,
    ) -> dict[str, Any]:
        return sign_certificate(body(issuer.name, subject, caps, valid, parent, serial), SignerVault(issuer.signer))

    def with_leaf(self, **changes: Any) -> list[dict[str, Any]]:
        """The chain with its leaf re-issued (by the right key) with ``changes`` to its body."""
        leaf = body(self.sub.name, self.leaf_agent, LEAF_CAPS, window(self.now, -6, 1), self.certs[1], "c-leaf")
        leaf.update(changes)
        return [*self.certs[:2], sign_certificate(leaf, SignerVault(self.sub.signer))]


def build_chain(alg: Algorithm) -> Chain:
    now = sup.now()
    root, bot, sub, leaf = (Agent.create(n, alg) for n in ("kc-root", "kc-bot", "kc-sub", "kc-leaf"))
    chain = Chain(root, bot, sub, leaf, [], now)
    c0 = chain.cert(root, bot, ROOT_CAPS, window(now, -24, 24 * 30), None, "c-root")
    c1 = chain.cert(bot, sub, CHILD_CAPS, window(now, -12, 24), c0, "c-child")
    chain.certs = [c0, c1]
    chain.certs = chain.with_leaf()
    return chain


def refused_with(impl: Implementation, chain: Chain, certs: Sequence[Mapping[str, Any]], code: str, what: str) -> None:
    __tracebackhide__ = True
    with implementation_calls(f"{impl.name}.delegation_verifier()"):
        verifier = impl.delegation_verifier(chain.roots)
    exc = assert_rejects(lambda: verifier.verify_chain(list(certs)), what)
    got = getattr(exc, "code", None)
    got = getattr(got, "value", got)
    assert got == code, f"{what}: refused with code {got!r} ({type(exc).__name__}: {exc}); expected {code}"


def check(
    check_id: str, title: str, *flags: str, scope: str = "alg", requires: Sequence[Capability] = ()
) -> pytest.MarkDecorator:
    return pytest.mark.kmsconform_check(
        id=check_id,
        title=title,
        source=SOURCE,
        requires=[DELEGATION, *requires],
        scope=scope,
        algs="asymmetric",
        flags=list(flags),
    )


@pytest.fixture
def chain(kmsconform_target: Target) -> Chain:
    assert kmsconform_target.alg is not None
    return build_chain(kmsconform_target.alg)


def issue_chain(
    impl: Implementation, root: ImplIssuer, alg: Algorithm, now: datetime, tag: str
) -> list[Mapping[str, Any]]:
    """root passport (by the issuer ``root``) -> child -> grandchild, all through the implementation's issuers."""
    bot, sub = Agent.create(f"kc-bot-{tag}", alg), Agent.create(f"kc-sub-{tag}", alg)
    with implementation_calls(f"{impl.name}.delegation_issuer()"):
        p = root.issue(
            subject=bot.name,
            subject_key=bot.jwk,
            capabilities=ROOT_CAPS,
            not_before=now - timedelta(hours=1),
            not_after=now + timedelta(days=30),
        )
        c = impl.delegation_issuer(bot.signer, bot.name).issue(
            subject=sub.name,
            subject_key=sub.jwk,
            capabilities=CHILD_CAPS,
            not_before=now - timedelta(minutes=30),
            not_after=now + timedelta(days=1),
            parent=p,
        )
        leaf = Agent.create(f"kc-leaf-{tag}", alg)
        g = impl.delegation_issuer(sub.signer, sub.name).issue(
            subject=leaf.name,
            subject_key=leaf.jwk,
            capabilities=LEAF_CAPS,
            not_before=now - timedelta(minutes=10),
            not_after=now + timedelta(hours=1),
            parent=c,
        )
    return [p, c, g]


def root_issuer(impl: Implementation, signer: ImplSigner) -> ImplIssuer:
    with implementation_calls(f"{impl.name}.delegation_issuer()"):
        return impl.delegation_issuer(signer, "kc-root")


def root_jwks(signer: ImplSigner) -> dict[str, Any]:
    return {"keys": [SignerVault(signer).get_verifying_key()]}


@check(
    "KC-DEL-001",
    "A 3-level chain issued through the backend verifies offline, with no KMS call",
    "BASIC",
    "NETWORK_ACCESS",
    scope="backend",
    requires=[SIGN],
)
def test_chain_verifies_offline(kmsconform_impl: Implementation, kmsconform_new_signer: SignerFactory) -> None:
    impl = kmsconform_impl
    root_signer = CountingSigner(kmsconform_new_signer())
    certs = issue_chain(impl, root_issuer(impl, root_signer), root_signer.alg, sup.now(), "a")
    roots = root_jwks(root_signer)
    calls = root_signer.calls
    assert_accepts(lambda: verify_chain(certs, roots), "the reference verifier (interop)")
    with implementation_calls(f"{impl.name}.delegation_verifier()"):
        verifier = impl.delegation_verifier(roots)
    with network_blocked() as guard:
        caps = verifier.verify_chain(certs)
    assert guard.attempts == [], f"the verifier tried to reach the network: {guard.attempts}"
    assert list(caps) == LEAF_CAPS, f"verified capabilities {caps}, expected the leaf's {LEAF_CAPS}"
    assert root_signer.calls == calls, "verification asked the KMS to sign"


@check("KC-DEL-002", "A child that widens its parent's capabilities is refused (CAPABILITY_WIDENED)", "AUTH_BYPASS")
def test_widened(kmsconform_impl: Implementation, chain: Chain) -> None:
    refused_with(
        kmsconform_impl,
        chain,
        chain.with_leaf(capabilities=["trade.options"]),
        "CAPABILITY_WIDENED",
        "a capability the parent lacks",
    )
    refused_with(
        kmsconform_impl,
        chain,
        chain.with_leaf(capabilities=["trade.*"]),
        "CAPABILITY_WIDENED",
        "a wildcard over the parent's capability",
    )


@check("KC-DEL-003", "A child that outlives its parent is refused (OUTLIVES_PARENT)", "AUTH_BYPASS")
def test_outlives_parent(kmsconform_impl: Implementation, chain: Chain) -> None:
    late = format_time(chain.now + timedelta(days=2))
    refused_with(kmsconform_impl, chain, chain.with_leaf(not_after=late), "OUTLIVES_PARENT", "valid after its parent")
    early = format_time(chain.now - timedelta(days=2))
    refused_with(
        kmsconform_impl, chain, chain.with_leaf(not_before=early), "OUTLIVES_PARENT", "valid before its parent"
    )


@check("KC-DEL-004", "An expired certificate is refused (EXPIRED); it verified while valid", "KEY_LIFECYCLE")
def test_expired(kmsconform_impl: Implementation, chain: Chain) -> None:
    certs = chain.with_leaf(not_after=format_time(chain.now - timedelta(hours=1)))
    refused_with(kmsconform_impl, chain, certs, "EXPIRED", "leaf expired an hour ago")
    verifier = kmsconform_impl.delegation_verifier(chain.roots)
    at = chain.now - timedelta(hours=2)
    assert_accepts(lambda: verifier.verify_chain(certs, at=at), "the same chain as of two hours ago")


@check("KC-DEL-005", "A certificate not yet valid is refused (NOT_YET_VALID)", "KEY_LIFECYCLE")
def test_not_yet_valid(kmsconform_impl: Implementation, chain: Chain) -> None:
    start = format_time(chain.now + timedelta(minutes=30))
    refused_with(
        kmsconform_impl, chain, chain.with_leaf(not_before=start), "NOT_YET_VALID", "leaf valid from in 30 min"
    )


@check("KC-DEL-006", "A child moved under another parent is refused (PARENT_MISMATCH)", "AUTH_BYPASS")
def test_reparented(kmsconform_impl: Implementation, chain: Chain) -> None:
    # a second child certificate for the same agent and key: the leaf was issued under the first
    other = chain.cert(chain.bot, chain.sub, ROOT_CAPS, window(chain.now, -12, 24), chain.certs[0], "c-child-2")
    refused_with(
        kmsconform_impl, chain, [chain.certs[0], other, chain.certs[2]], "PARENT_MISMATCH", "leaf under a sibling"
    )


@check(
    "KC-DEL-007", "A child signed by a key other than its parent's subject key is refused (WRONG_KEY)", "AUTH_BYPASS"
)
def test_wrong_key(kmsconform_impl: Implementation, chain: Chain) -> None:
    assert chain.root.signer.alg is not None
    outsider = Agent.create("kc-outsider", chain.root.signer.alg)
    claimed = body(chain.sub.name, chain.leaf_agent, LEAF_CAPS, window(chain.now, -6, 1), chain.certs[1], "c-leaf")
    leaf = sign_certificate(claimed, SignerVault(outsider.signer))  # valid under the key it embeds
    refused_with(kmsconform_impl, chain, [*chain.certs[:2], leaf], "WRONG_KEY", "signed by an outsider")


@check("KC-DEL-008", "A certificate altered after signing is refused (BAD_SIGNATURE)", "AUTH_BYPASS")
def test_tampered(kmsconform_impl: Implementation, chain: Chain) -> None:
    certs = copy.deepcopy(chain.certs)
    certs[2]["serial"] = "c-leaf-edited"
    refused_with(kmsconform_impl, chain, certs, "BAD_SIGNATURE", "leaf edited")
    certs = copy.deepcopy(chain.certs)
    certs[1]["subject_key"] = chain.leaf_agent.jwk  # an attacker re-points the child at its own key
    refused_with(kmsconform_impl, chain, certs, "BAD_SIGNATURE", "child's subject key replaced")


@check("KC-DEL-009", "A chain whose root key is not trusted is refused (UNTRUSTED_ROOT)", "AUTH_BYPASS")
def test_untrusted_root(kmsconform_impl: Implementation, chain: Chain) -> None:
    assert chain.root.signer.alg is not None
    stranger = build_chain(chain.root.signer.alg)
    refused_with(kmsconform_impl, chain, stranger.certs, "UNTRUSTED_ROOT", "a chain under another root")


@check("KC-DEL-010", "The issuer refuses to issue a child that widens or outlives its parent", "AUTH_BYPASS")
def test_issuer_refuses(kmsconform_impl: Implementation, chain: Chain) -> None:
    impl = kmsconform_impl
    with implementation_calls(f"{impl.name}.delegation_issuer()"):
        issuer = impl.delegation_issuer(chain.sub.signer, chain.sub.name)
    parent = chain.certs[1]
    key = chain.leaf_agent.jwk
    soon, later = chain.now + timedelta(hours=1), chain.now + timedelta(days=2)
    assert_rejects(
        lambda: issuer.issue(
            subject="x", subject_key=key, capabilities=["admin"], not_before=chain.now, not_after=soon, parent=parent
        ),
        "a widening child",
    )
    assert_rejects(
        lambda: issuer.issue(
            subject="x", subject_key=key, capabilities=LEAF_CAPS, not_before=chain.now, not_after=later, parent=parent
        ),
        "a child outliving its parent",
    )


@check(
    "KC-DEL-011",
    "Root key rotation: new passports embed the new key; old chains verify until the old root is dropped",
    "KEY_LIFECYCLE",
    scope="backend",
    requires=[SIGN, ROTATION],
)
def test_root_rotation(kmsconform_impl: Implementation, kmsconform_new_signer: SignerFactory) -> None:
    impl = kmsconform_impl
    signer = kmsconform_new_signer()
    issuer = root_issuer(impl, signer)  # one issuer across the rotation, as a long-running service has
    old_certs = issue_chain(impl, issuer, signer.alg, sup.now(), "old")
    old_root = SignerVault(signer).get_verifying_key()
    with implementation_calls(f"{impl.name} signer.rotate()"):
        signer.rotate()
    new_certs = issue_chain(impl, issuer, signer.alg, sup.now(), "new")
    new_root = SignerVault(signer).get_verifying_key()
    assert key_thumbprint(new_root) != key_thumbprint(old_root), "rotation did not change the root key"
    assert key_thumbprint(new_certs[0]["issuer_key"]) == key_thumbprint(new_root), "a new passport embeds an old key"
    both = impl.delegation_verifier({"keys": [old_root, new_root]})
    assert_accepts(lambda: both.verify_chain(old_certs), "old chain while both roots are trusted")
    assert_accepts(lambda: both.verify_chain(new_certs), "new chain while both roots are trusted")
    new_only = impl.delegation_verifier({"keys": [new_root]})
    assert_accepts(lambda: new_only.verify_chain(new_certs), "new chain after the old root is retired")
    exc = assert_rejects(lambda: new_only.verify_chain(old_certs), "old chain after the old root is retired")
    assert getattr(getattr(exc, "code", None), "value", getattr(exc, "code", None)) == "UNTRUSTED_ROOT", exc
