"""Suite 7, multisig N-of-M manifests (seed 001): the threshold is met or not, an allowed signer is
counted once, signers outside the manifest and invalid signatures are ignored, and the policy
cannot be lowered after signing. Manifests use ``kmsconform-multisig/1`` (``docs/spec.md``)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.multisig import add_signature, create_manifest
from pytest_kmsconform.reference_impl.signature import Signature, b64url_encode
from pytest_kmsconform.suites._support import ReferenceKey, flip_bit, merged_jwks

from pytest_kmsconform.adapter import Implementation
from pytest_kmsconform.asserts import assert_rejects
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.implementation import Memo

MULTISIG = Capability.MULTISIG
SOURCE = "seed 001 (Multisig & Manifests: N-of-M, not threshold signatures)"
PAYLOAD = {"type": "release-manifest", "artifact": "kmsconform-check", "sha256": "00" * 32}


def _keys(memo: Memo) -> dict[str, ReferenceKey]:
    """Three allowed signers (mixed algorithms) and one outsider."""
    algs = {"alice": Algorithm.ED25519, "bob": Algorithm.ECDSA_P256_SHA256, "carol": Algorithm.ED25519}
    algs["mallory"] = Algorithm.ECDSA_P256_SHA256
    return {name: _key(memo, name, alg) for name, alg in algs.items()}


def _key(memo: Memo, name: str, alg: Algorithm) -> ReferenceKey:
    return memo.get(("ms-key", name), lambda: ReferenceKey.create(alg, f"ms-{name}"))


def _manifest(keys: dict[str, ReferenceKey], threshold: int, sign: list[str]) -> dict[str, Any]:
    allowed = [keys[n].signer.kid for n in ("alice", "bob", "carol")]
    manifest = create_manifest(PAYLOAD, threshold, allowed)
    for name in sign:
        signer = keys[name].signer
        if signer.kid in allowed:
            manifest = add_signature(manifest, signer)
        else:  # an outsider signs the same bytes; add_signature would refuse it
            sig = signer.sign_digest(_digest(manifest))
            manifest = {**manifest, "signatures": [*manifest["signatures"], sig.to_json()]}
    return manifest


def _digest(manifest: dict[str, Any]) -> bytes:
    from pytest_kmsconform.reference_impl.multisig import manifest_digest

    return manifest_digest(manifest["payload"], manifest["threshold"], manifest["signers"])


def _jwks(keys: dict[str, ReferenceKey]) -> dict[str, Any]:
    return merged_jwks(*(k.signer.jwks() for k in keys.values()))


def _check(check_id: str, title: str, flags: list[str]) -> pytest.MarkDecorator:
    return pytest.mark.kmsconform_check(id=check_id, title=title, source=SOURCE, requires=[MULTISIG], flags=flags)


@_check(
    "KC-MS-001",
    "A 2-of-3 manifest with two valid allowed signatures is approved, counting both",
    ["BASIC", "THRESHOLD"],
)
def test_threshold_met(kmsconform_impl: Implementation, kmsconform_memo: Memo) -> None:
    keys = _keys(kmsconform_memo)
    counted = kmsconform_impl.multisig().verify_manifest(_manifest(keys, 2, ["alice", "bob"]), _jwks(keys))
    assert sorted(counted) == sorted([keys["alice"].signer.kid, keys["bob"].signer.kid]), f"counted {counted}"


@_check("KC-MS-002", "A 2-of-3 manifest with one signature is refused", ["THRESHOLD", "AUTH_BYPASS"])
def test_threshold_not_met(kmsconform_impl: Implementation, kmsconform_memo: Memo) -> None:
    keys = _keys(kmsconform_memo)
    multisig = kmsconform_impl.multisig()
    assert_rejects(lambda: multisig.verify_manifest(_manifest(keys, 2, ["alice"]), _jwks(keys)), "1 of 2 signatures")


@_check("KC-MS-003", "A signer who signs twice is counted once", ["THRESHOLD", "AUTH_BYPASS"])
def test_signer_counted_once(kmsconform_impl: Implementation, kmsconform_memo: Memo) -> None:
    keys = _keys(kmsconform_memo)
    multisig = kmsconform_impl.multisig()
    manifest = _manifest(keys, 2, ["bob", "bob"])
    assert_rejects(lambda: multisig.verify_manifest(manifest, _jwks(keys)), "the same signer twice")


@_check("KC-MS-004", "A signature by a key outside the manifest's signers is ignored", ["THRESHOLD", "AUTH_BYPASS"])
def test_unknown_signer_ignored(kmsconform_impl: Implementation, kmsconform_memo: Memo) -> None:
    keys = _keys(kmsconform_memo)
    multisig = kmsconform_impl.multisig()
    assert_rejects(
        lambda: multisig.verify_manifest(_manifest(keys, 2, ["alice", "mallory"]), _jwks(keys)), "allowed + outsider"
    )
    counted = multisig.verify_manifest(_manifest(keys, 2, ["alice", "mallory", "carol"]), _jwks(keys))
    assert sorted(counted) == sorted([keys["alice"].signer.kid, keys["carol"].signer.kid]), f"counted {counted}"


@_check("KC-MS-005", "An invalid signature by an allowed signer does not count", ["THRESHOLD", "AUTH_BYPASS"])
def test_invalid_signature_ignored(kmsconform_impl: Implementation, kmsconform_memo: Memo) -> None:
    keys = _keys(kmsconform_memo)
    manifest = _manifest(keys, 2, ["alice", "bob"])
    bad = Signature.from_json(manifest["signatures"][1])
    manifest["signatures"][1] = {**manifest["signatures"][1], "sig": b64url_encode(flip_bit(bad.value, 5))}
    multisig = kmsconform_impl.multisig()
    assert_rejects(lambda: multisig.verify_manifest(manifest, _jwks(keys)), "one valid + one corrupted signature")


@_check("KC-MS-006", "Lowering the threshold after signing invalidates the signatures", ["THRESHOLD", "AUTH_BYPASS"])
def test_policy_is_signed(kmsconform_impl: Implementation, kmsconform_memo: Memo) -> None:
    keys = _keys(kmsconform_memo)
    manifest = {**_manifest(keys, 2, ["alice"]), "threshold": 1}
    multisig = kmsconform_impl.multisig()
    assert_rejects(lambda: multisig.verify_manifest(manifest, _jwks(keys)), "threshold lowered from 2 to 1")
