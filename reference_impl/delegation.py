"""Delegation certificates with capability narrowing (seed 002), format ``kmsconform-delegation/1``.

A certificate embeds the verifying key of its issuer (``issuer_key``) and of its subject
(``subject_key``); a chain ``[root, ..., leaf]`` verifies with the trusted root keys alone, with no
call to any KMS (``docs/spec.md`` §12). Each certificate is signed like an audit record: the
signature is over ``SHA256(canonical(certificate without "signature"))`` (RFC 8785, ``docs/spec.md``
§1), so any backend signer can issue one, through the small :class:`VaultSigner` protocol.

:func:`verify_chain` raises :class:`DelegationError` with one :class:`ChainCode` per defect, in a
fixed order of checks per certificate (format, signature, key linkage, parent reference,
capabilities, validity window inside the parent's, validity at the given time).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .algorithms import Algorithm
from .canonical import canonicalize_payload
from .clock import format_time, parse_time, utc_now
from .errors import ArchiveFormatError, InvalidSignature, KeyFormatError, KmsConformError, UnsupportedAlgorithm
from .jwk import jwk_to_public_key, public_key_to_jwk
from .jws import jwk_thumbprint
from .primitives import PublicKey, check_key_matches, verify_digest
from .signature import Signature
from .signer import Signer

FORMAT = "kmsconform-delegation/1"
FIELDS = frozenset(
    {
        "format",
        "serial",
        "issuer",
        "issuer_key",
        "subject",
        "subject_key",
        "capabilities",
        "not_before",
        "not_after",
        "parent",
        "signature",
    }
)
CERT_ALGORITHMS = frozenset(a for a in Algorithm if not a.is_symmetric)
KEY_MEMBERS = frozenset({"kty", "crv", "x", "y", "n", "e", "pub", "kid", "alg"})  # pub: RFC 9964 AKP (ML-DSA)


class ChainCode(enum.StrEnum):
    """Why a chain is refused (``docs/spec.md`` §12)."""

    FORMAT_ERROR = "FORMAT_ERROR"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNTRUSTED_ROOT = "UNTRUSTED_ROOT"
    WRONG_KEY = "WRONG_KEY"
    PARENT_MISMATCH = "PARENT_MISMATCH"
    CAPABILITY_WIDENED = "CAPABILITY_WIDENED"
    OUTLIVES_PARENT = "OUTLIVES_PARENT"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"


class DelegationError(KmsConformError):
    """A refused chain or issuance: ``code`` says why, ``index`` which certificate (root = 0)."""

    def __init__(self, message: str, code: ChainCode, index: int | None = None) -> None:
        super().__init__(message if index is None else f"certificate {index}: {message}")
        self.code = code
        self.index = index


@runtime_checkable
class VaultSigner(Protocol):
    """What an issuer needs from a key in a KMS or HSM (seed 002's ``VaultSigner``)."""

    def get_verifying_key(self) -> dict[str, Any]:
        """The current public key as a JWK with ``kid`` and ``alg`` (our algorithm name)."""
        ...

    def sign(self, payload: bytes) -> Signature:
        """Sign ``payload`` (the contract signs its SHA-256 digest, ``docs/spec.md`` §1)."""
        ...


class SignerVault:
    """Any reference :class:`Signer` (local, AWS KMS, Vault, YubiHSM, signing proxy) as a
    :class:`VaultSigner`. The key is read on every call, so after a rotation new certificates
    embed the new key."""

    def __init__(self, signer: Any) -> None:
        if signer.alg not in CERT_ALGORITHMS:
            raise DelegationError(f"{signer.alg.value} cannot sign certificates (no public key)", ChainCode.WRONG_KEY)
        self.signer = signer

    def get_verifying_key(self) -> dict[str, Any]:
        kid = self.signer.kid
        for member in self.signer.jwks().get("keys", []):
            if isinstance(member, dict) and member.get("kid") == kid:
                key = {k: v for k, v in member.items() if k in KEY_MEMBERS}
                return key
        raise DelegationError(f"the signer publishes no key {kid}", ChainCode.FORMAT_ERROR)

    def sign(self, payload: bytes) -> Signature:
        signature: Signature = self.signer.sign_digest(hashlib.sha256(payload).digest())
        return signature


def verifying_key(key: PublicKey, alg: Algorithm, kid: str) -> dict[str, Any]:
    """A subject key as embedded in certificates: the JWK members plus ``kid`` and ``alg``."""
    jwk: dict[str, Any] = public_key_to_jwk(key)
    jwk.update({"kid": kid, "alg": alg.value})
    return jwk


def signed_bytes(cert: Mapping[str, Any]) -> bytes:
    """What is signed: the RFC 8785 canonical JSON of the certificate without ``signature``."""
    return canonicalize_payload({k: v for k, v in cert.items() if k != "signature"})


def cert_digest(cert: Mapping[str, Any]) -> str:
    """The reference a child puts in ``parent``: SHA-256 (hex) of the whole certificate, canonical."""
    return hashlib.sha256(canonicalize_payload(dict(cert))).hexdigest()


def key_thumbprint(jwk: Mapping[str, Any]) -> str:
    return jwk_thumbprint({k: v for k, v in jwk.items() if k in KEY_MEMBERS - {"kid"}})


def covers(granted: Iterable[str], capability: str) -> bool:
    """``capability`` is within ``granted``: equal, or under a ``prefix.*`` wildcard, or ``*``."""
    return any(g in (capability, "*") or (g.endswith(".*") and capability.startswith(g[:-1])) for g in granted)


def sign_certificate(body: Mapping[str, Any], vault: VaultSigner) -> dict[str, Any]:
    """Embed the vault's key as ``issuer_key`` and sign; no other check (hazmat: the suites use it to
    build the bad chains a verifier must refuse)."""
    cert = {k: v for k, v in body.items() if k != "signature"}
    cert["issuer_key"] = vault.get_verifying_key()
    cert["signature"] = vault.sign(signed_bytes(cert)).to_json()
    return cert


def issue(
    vault: VaultSigner,
    *,
    issuer: str,
    subject: str,
    subject_key: Mapping[str, Any],
    capabilities: Sequence[str],
    not_before: datetime,
    not_after: datetime,
    parent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Issue a certificate (a root passport without ``parent``, else a sub-certificate). Refuses to
    issue what a verifier would refuse: a child that widens or outlives ``parent``, or whose issuer
    key is not the parent's subject key."""
    body: dict[str, Any] = {
        "format": FORMAT,
        "serial": secrets.token_hex(16),
        "issuer": issuer,
        "subject": subject,
        "subject_key": dict(subject_key),
        "capabilities": sorted(set(capabilities)),
        "not_before": format_time(not_before),
        "not_after": format_time(not_after),
        "parent": None if parent is None else cert_digest(parent),
    }
    if not_after <= not_before:
        raise DelegationError("not_after must be later than not_before", ChainCode.FORMAT_ERROR)
    if parent is not None:
        if key_thumbprint(vault.get_verifying_key()) != key_thumbprint(parent["subject_key"]):
            raise DelegationError("the issuing key is not the parent's subject key", ChainCode.WRONG_KEY)
        checks = ChainVerifier({"keys": []})
        checks.check_narrowing(parent, body, None)
        checks.check_window(parent, body, None)
    return sign_certificate(body, vault)


# -- verification ------------------------------------------------------------------------------------
def _key(jwk: Any, where: str, index: int) -> tuple[PublicKey, Algorithm]:
    if not isinstance(jwk, Mapping):
        raise DelegationError(f"{where} must be a JWK object", ChainCode.FORMAT_ERROR, index)
    try:
        alg = Algorithm.parse(str(jwk.get("alg")))
        if alg not in CERT_ALGORITHMS:
            raise KeyFormatError(f"{alg.value} has no public key")
        key = jwk_to_public_key(dict(jwk))
        check_key_matches(alg, key)
    except (KeyFormatError, UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise DelegationError(f"{where}: {exc}", ChainCode.FORMAT_ERROR, index) from None
    return key, alg


def _times(cert: Mapping[str, Any], index: int | None) -> tuple[datetime, datetime]:
    try:
        return parse_time(str(cert["not_before"])), parse_time(str(cert["not_after"]))
    except (KeyError, ValueError) as exc:
        raise DelegationError(f"bad validity time: {exc}", ChainCode.FORMAT_ERROR, index) from None


def _check_format(cert: Any, index: int) -> None:
    if not isinstance(cert, Mapping) or set(cert) != FIELDS:
        shown = sorted(set(cert) ^ FIELDS) if isinstance(cert, Mapping) else type(cert).__name__
        raise DelegationError(f"not a {FORMAT} certificate ({shown})", ChainCode.FORMAT_ERROR, index)
    if cert["format"] != FORMAT:
        raise DelegationError(f"format {cert['format']!r} is not {FORMAT}", ChainCode.FORMAT_ERROR, index)
    for name in ("serial", "issuer", "subject"):
        if not isinstance(cert[name], str) or not cert[name]:
            raise DelegationError(f"{name} must be a non-empty string", ChainCode.FORMAT_ERROR, index)
    caps = cert["capabilities"]
    if not isinstance(caps, list) or not all(isinstance(c, str) and c for c in caps):
        raise DelegationError("capabilities must be a list of strings", ChainCode.FORMAT_ERROR, index)
    if cert["parent"] is not None and not isinstance(cert["parent"], str):
        raise DelegationError("parent must be a hex digest or null", ChainCode.FORMAT_ERROR, index)
    before, after = _times(cert, index)
    if after <= before:
        raise DelegationError("not_after is not later than not_before", ChainCode.FORMAT_ERROR, index)


def _check_signature(cert: Mapping[str, Any], index: int) -> None:
    key, alg = _key(cert["issuer_key"], "issuer_key", index)
    try:
        signature = Signature.from_json(cert["signature"])
    except (ArchiveFormatError, KeyError, TypeError, ValueError) as exc:
        raise DelegationError(f"malformed signature: {exc}", ChainCode.FORMAT_ERROR, index) from None
    if signature.alg is not alg:
        raise DelegationError(f"signed {signature.alg.value}, key is {alg.value}", ChainCode.BAD_SIGNATURE, index)
    try:
        verify_digest(alg, key, hashlib.sha256(signed_bytes(cert)).digest(), signature.value)
    except InvalidSignature:
        raise DelegationError("signature does not verify under issuer_key", ChainCode.BAD_SIGNATURE, index) from None


class ChainVerifier:
    """Verifies chains against trusted root keys (what an agent holds). Each step is a method, so a
    test can build a verifier that forgets one; :meth:`verify_chain` runs them in order."""

    def __init__(self, trusted_roots: Mapping[str, Any]) -> None:
        self.trusted_roots = dict(trusted_roots)
        self._roots = {key_thumbprint(m) for m in trusted_roots.get("keys", []) if isinstance(m, Mapping)}

    def verify_chain(self, chain: Sequence[Mapping[str, Any]], *, at: datetime | None = None) -> list[str]:
        """Verify ``[root, ..., leaf]`` at ``at`` (default now); return the leaf's capabilities. No
        network, no KMS: only the embedded keys. Raises :class:`DelegationError`."""
        when = at if at is not None else utc_now()
        if not isinstance(chain, Sequence) or isinstance(chain, str | bytes) or not chain:
            raise DelegationError("a chain is a non-empty list of certificates", ChainCode.FORMAT_ERROR)
        parent: Mapping[str, Any] | None = None
        for index, cert in enumerate(chain):
            _check_format(cert, index)
            _key(cert["subject_key"], "subject_key", index)
            self.check_signature(cert, index)
            if parent is None:
                self.check_root(cert, index)
            else:
                self.check_issuer_key(parent, cert, index)
                self.check_parent(parent, cert, index)
                self.check_narrowing(parent, cert, index)
                self.check_window(parent, cert, index)
            self.check_time(cert, index, when)
            parent = cert
        assert parent is not None
        return list(parent["capabilities"])

    def check_signature(self, cert: Mapping[str, Any], index: int) -> None:
        _check_signature(cert, index)

    def check_root(self, cert: Mapping[str, Any], index: int) -> None:
        if key_thumbprint(cert["issuer_key"]) not in self._roots:
            raise DelegationError("the root is not signed by a trusted key", ChainCode.UNTRUSTED_ROOT, index)
        if cert["parent"] is not None:
            raise DelegationError("the root certificate names a parent", ChainCode.PARENT_MISMATCH, index)

    def check_issuer_key(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int) -> None:
        if key_thumbprint(cert["issuer_key"]) != key_thumbprint(parent["subject_key"]):
            raise DelegationError("not signed by the parent's subject key", ChainCode.WRONG_KEY, index)

    def check_parent(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int) -> None:
        if cert["parent"] != cert_digest(parent) or cert["issuer"] != parent["subject"]:
            raise DelegationError("issued under another parent", ChainCode.PARENT_MISMATCH, index)

    def check_narrowing(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int | None) -> None:
        wider = [c for c in cert["capabilities"] if not covers(parent["capabilities"], c)]
        if wider:
            raise DelegationError(f"widens the parent's capabilities with {wider}", ChainCode.CAPABILITY_WIDENED, index)

    def check_window(self, parent: Mapping[str, Any], cert: Mapping[str, Any], index: int | None) -> None:
        p_before, p_after = _times(parent, index)
        c_before, c_after = _times(cert, index)
        if c_after > p_after or c_before < p_before:
            raise DelegationError("validity is not inside the parent's", ChainCode.OUTLIVES_PARENT, index)

    def check_time(self, cert: Mapping[str, Any], index: int, when: datetime) -> None:
        not_before, not_after = _times(cert, index)
        if when > not_after:
            raise DelegationError(f"expired at {cert['not_after']}", ChainCode.EXPIRED, index)
        if when < not_before:
            raise DelegationError(f"not valid before {cert['not_before']}", ChainCode.NOT_YET_VALID, index)


def verify_chain(
    chain: Sequence[Mapping[str, Any]], trusted_roots: Mapping[str, Any], *, at: datetime | None = None
) -> list[str]:
    """:meth:`ChainVerifier.verify_chain` with ``trusted_roots`` (a JWKS of root keys)."""
    return ChainVerifier(trusted_roots).verify_chain(chain, at=at)


def signer_vault(signer: Signer) -> SignerVault:
    return SignerVault(signer)
