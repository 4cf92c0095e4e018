"""N-of-M manifests (seed 001): independent signatures collected from M allowed signers, not
threshold cryptography. Format ``kmsconform-multisig/1``::

    {"format": "kmsconform-multisig/1", "payload": ..., "threshold": N, "signers": [kid, ...],
     "signatures": [{"kid", "alg", "sig"}, ...]}

Every signer signs the same 32 bytes, ``SHA256(canonical({"format", "payload", "signers",
"threshold"}))``: the policy (who, how many) is signed along with the payload, so it cannot be
lowered afterwards. A manifest verifies when at least ``threshold`` distinct allowed signers have a
valid signature. Each allowed kid counts once; signatures by kids outside ``signers``, duplicates
and invalid signatures are ignored (and reported in the result).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .canonical import canonicalize_payload
from .errors import ArchiveFormatError, KmsConformError, MultisigError, ThresholdNotMet
from .signature import Signature
from .signer import Signer
from .verifier import Verifier

FORMAT = "kmsconform-multisig/1"


@dataclass(frozen=True)
class MultisigResult:
    """``valid``: kids that counted, in manifest order; ``ignored``: (kid, reason) pairs."""

    threshold: int
    valid: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...]

    @property
    def met(self) -> bool:
        return len(self.valid) >= self.threshold


def _check_policy(threshold: Any, signers: Any) -> tuple[int, tuple[str, ...]]:
    if not isinstance(signers, list | tuple) or not all(isinstance(k, str) and k for k in signers):
        raise MultisigError("signers must be a list of non-empty kid strings")
    if len(set(signers)) != len(signers):
        raise MultisigError("signers lists a kid twice")
    if type(threshold) is not int or not 1 <= threshold <= len(signers):
        raise MultisigError(f"threshold must be an integer between 1 and {len(signers)}")
    return threshold, tuple(signers)


def manifest_digest(payload: Any, threshold: int, signers: Sequence[str]) -> bytes:
    """The 32 bytes every signer signs."""
    threshold, kids = _check_policy(threshold, list(signers))
    body = {"format": FORMAT, "payload": payload, "signers": list(kids), "threshold": threshold}
    return hashlib.sha256(canonicalize_payload(body)).digest()


def create_manifest(payload: Any, threshold: int, signers: Sequence[str]) -> dict[str, Any]:
    """A manifest with no signatures yet."""
    manifest_digest(payload, threshold, signers)  # validates policy and payload
    return {"format": FORMAT, "payload": payload, "threshold": threshold, "signers": list(signers), "signatures": []}


def add_signature(manifest: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """A copy of ``manifest`` with ``signer``'s signature appended (its kid must be allowed)."""
    digest = _digest_of(manifest)
    if signer.kid not in manifest["signers"]:
        raise MultisigError(f"{signer.kid} is not one of the manifest's signers")
    signature = signer.sign_digest(digest)
    return {**manifest, "signatures": [*manifest["signatures"], signature.to_json()]}


def _digest_of(manifest: Mapping[str, Any]) -> bytes:
    if not isinstance(manifest, Mapping) or manifest.get("format") != FORMAT:
        raise MultisigError(f"not a {FORMAT} manifest")
    expected = {"format", "payload", "threshold", "signers", "signatures"}
    if set(manifest) != expected:
        raise MultisigError(f"manifest members must be {sorted(expected)}, got {sorted(manifest)}")
    if not isinstance(manifest["signatures"], list):
        raise MultisigError("signatures must be a list")
    return manifest_digest(manifest["payload"], manifest["threshold"], manifest["signers"])


def verify_manifest(manifest: Mapping[str, Any], verifier: Verifier, *, at: datetime | None = None) -> MultisigResult:
    """Count distinct allowed signers with a valid signature.

    :raises MultisigError: the manifest is malformed.
    :raises ThresholdNotMet: fewer than ``threshold`` signers counted (the result is not returned).
    """
    digest = _digest_of(manifest)
    allowed = set(manifest["signers"])
    valid: list[str] = []
    ignored: list[tuple[str, str]] = []
    for entry in manifest["signatures"]:
        try:
            signature = Signature.from_json(entry)
        except ArchiveFormatError as exc:
            raise MultisigError(f"malformed signature entry: {exc}") from None
        kid = signature.kid
        if kid not in allowed:
            ignored.append((kid, "not an allowed signer"))
            continue
        if kid in valid:
            ignored.append((kid, "already counted"))
            continue
        try:
            verifier.verify_signature(digest, signature, at=at)
        except KmsConformError as exc:
            ignored.append((kid, f"{type(exc).__name__}: {exc}"))
            continue
        valid.append(kid)
    result = MultisigResult(threshold=manifest["threshold"], valid=tuple(valid), ignored=tuple(ignored))
    if not result.met:
        raise ThresholdNotMet(
            f"{len(valid)} of the required {result.threshold} signatures are valid",
            valid=result.valid,
            threshold=result.threshold,
        )
    return result
