"""N-of-M manifests: threshold met / not met, each signer once, unknown signers ignored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import MultisigError, ThresholdNotMet
from pytest_kmsconform.reference_impl.keyring import RingSigner
from pytest_kmsconform.reference_impl.multisig import add_signature, create_manifest, verify_manifest
from pytest_kmsconform.reference_impl.verifier import Verifier

PAYLOAD = {"release": "2026.1", "artifact_sha256": "ab" * 32}


@pytest.fixture
def signers(make_signer: Callable[..., RingSigner]) -> list[RingSigner]:
    algs = [Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256, Algorithm.RSA_PSS_SHA256]
    return [make_signer(alg, label=f"officer{i}", seed=f"o{i}".encode()) for i, alg in enumerate(algs)]


@pytest.fixture
def verifier(signers: list[RingSigner], make_signer: Callable[..., RingSigner]) -> Verifier:
    outsider = make_signer(label="outsider", seed=b"x")
    keys = [k for s in [*signers, outsider] for k in s.jwks()["keys"]]
    return Verifier({"keys": keys})


def _manifest(signers: list[RingSigner], threshold: int = 2) -> dict[str, Any]:
    return create_manifest(PAYLOAD, threshold, [s.kid for s in signers])


def test_threshold_met(signers: list[RingSigner], verifier: Verifier, clock: Any) -> None:
    manifest = add_signature(add_signature(_manifest(signers), signers[0]), signers[2])
    result = verify_manifest(manifest, verifier, at=clock())
    assert result.met and result.valid == (signers[0].kid, signers[2].kid) and result.ignored == ()


def test_threshold_not_met(signers: list[RingSigner], verifier: Verifier, clock: Any) -> None:
    manifest = add_signature(_manifest(signers), signers[1])
    with pytest.raises(ThresholdNotMet) as info:
        verify_manifest(manifest, verifier, at=clock())
    assert info.value.valid == (signers[1].kid,) and info.value.threshold == 2


def test_a_signer_counts_once(signers: list[RingSigner], verifier: Verifier, clock: Any) -> None:
    manifest = add_signature(add_signature(_manifest(signers), signers[0]), signers[0])
    with pytest.raises(ThresholdNotMet):
        verify_manifest(manifest, verifier, at=clock())


def test_unknown_signers_are_ignored(
    signers: list[RingSigner], verifier: Verifier, make_signer: Callable[..., RingSigner], clock: Any
) -> None:
    outsider = make_signer(label="outsider", seed=b"x")
    manifest = add_signature(_manifest(signers), signers[0])
    sig = outsider.sign_digest(b"\0" * 32).to_json()  # whatever it signs, it is not an allowed signer
    manifest["signatures"].append(sig)
    with pytest.raises(ThresholdNotMet):
        verify_manifest(manifest, verifier, at=clock())
    manifest = add_signature(manifest, signers[1])
    result = verify_manifest(manifest, verifier, at=clock())
    assert result.ignored == ((outsider.kid, "not an allowed signer"),)
    with pytest.raises(MultisigError, match="not one of"):
        add_signature(manifest, outsider)


def test_policy_is_signed(signers: list[RingSigner], verifier: Verifier, clock: Any) -> None:
    manifest = add_signature(add_signature(_manifest(signers, threshold=3), signers[0]), signers[1])
    lowered = {**manifest, "threshold": 2}  # the signatures were made over threshold 3
    with pytest.raises(ThresholdNotMet):
        verify_manifest(lowered, verifier, at=clock())
    tampered = {**add_signature(manifest, signers[2]), "payload": {**PAYLOAD, "release": "evil"}}
    with pytest.raises(ThresholdNotMet):
        verify_manifest(tampered, verifier, at=clock())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.update(format="other/1"),
        lambda m: m.update(threshold=0),
        lambda m: m.update(threshold=4),
        lambda m: m.update(threshold=True),
        lambda m: m.update(signers=["a", "a"]),
        lambda m: m.update(signers="a"),
        lambda m: m.update(signatures={}),
        lambda m: m.update(extra=1),
        lambda m: m["signatures"].append({"kid": "x"}),
    ],
    ids=["format", "zero", "too-high", "bool", "dup-signer", "signers-str", "sigs-dict", "extra", "bad-sig"],
)
def test_malformed_manifests_are_typed(signers: list[RingSigner], verifier: Verifier, mutate: Any) -> None:
    manifest = _manifest(signers)
    mutate(manifest)
    with pytest.raises(MultisigError):
        verify_manifest(manifest, verifier)
