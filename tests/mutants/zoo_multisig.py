"""Mutants of N-of-M manifest counting (seed 001, Multisig & Manifests; docs/spec.md section 8)."""

from __future__ import annotations

from typing import Any

from pytest_kmsconform.mutation import mutant

TARGET = "pytest_kmsconform.reference_impl.multisig:verify_manifest"


def _counting(*, allowed_only: bool = True, once: bool = True, verify: bool = True, short_by: int = 0) -> Any:
    from pytest_kmsconform.reference_impl import multisig
    from pytest_kmsconform.reference_impl.errors import KmsConformError, ThresholdNotMet
    from pytest_kmsconform.reference_impl.signature import Signature

    def verify_manifest(manifest: Any, verifier: Any, *, at: Any = None) -> Any:
        digest = multisig._digest_of(manifest)
        valid: list[str] = []
        for entry in manifest["signatures"]:
            sig = Signature.from_json(entry)
            if allowed_only and sig.kid not in manifest["signers"]:
                continue
            if once and sig.kid in valid:
                continue
            if verify:
                try:
                    verifier.verify_signature(digest, sig, at=at)
                except KmsConformError:
                    continue
            valid.append(sig.kid)
        if len(valid) + short_by < manifest["threshold"]:
            raise ThresholdNotMet("threshold not met", valid=tuple(valid), threshold=manifest["threshold"])
        return multisig.MultisigResult(manifest["threshold"], tuple(valid), ())

    return verify_manifest


@mutant(
    TARGET,
    bug="multisig: the same signer counted once per signature",
    violates="seed 001 (N-of-M independent signatures)",
    select="multisig",
)
def counts_duplicates(original: Any) -> Any:
    return _counting(once=False)


@mutant(
    TARGET,
    bug="multisig: signatures by kids outside the signer list count",
    violates="seed 001 (Enforce N-of-M thresholds)",
    select="multisig",
)
def counts_outsiders(original: Any) -> Any:
    return _counting(allowed_only=False)


@mutant(
    TARGET,
    bug="multisig: threshold off by one (N-1 signatures accepted)",
    violates="seed 001 (Enforce N-of-M thresholds)",
    select="multisig",
)
def threshold_off_by_one(original: Any) -> Any:
    return _counting(short_by=1)


@mutant(
    TARGET,
    bug="multisig: an allowed kid counts without its signature being verified",
    violates="seed 001 (independent signatures); docs/spec.md section 8",
    select="multisig",
)
def counts_unverified(original: Any) -> Any:
    return _counting(verify=False)
