"""Signing algorithms, named as in the seeds, with their JOSE and backend names.

What is signed is always the 32-byte audit digest (see ``docs/spec.md``):

* ``rsa-*`` and ``ecdsa-*`` sign it as a pre-hashed SHA-256 value (KMS ``MessageType=DIGEST``),
  so the result is a standard signature over the message the digest was computed from;
* ``ed25519`` signs the 32 digest bytes as its message (PureEdDSA, RFC 8032);
* ``ml-dsa-44/65/87`` sign the 32 digest bytes as the message of pure ML-DSA (FIPS 204 Algorithm 2)
  with an empty context string;
* ``hmac-sha256`` MACs the 32 digest bytes (RFC 2104).

The first five are contract version 1 (:data:`CLASSIC`); the ML-DSA parameter sets
(:data:`ML_DSA`) were added later, so nothing that declares no algorithm set is assumed to do them.
"""

from __future__ import annotations

import enum

from .errors import UnsupportedAlgorithm, UnsupportedReason


class Algorithm(enum.StrEnum):
    ED25519 = "ed25519"
    RSA_SHA256 = "rsa-sha256"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
    HMAC_SHA256 = "hmac-sha256"
    ML_DSA_44 = "ml-dsa-44"
    ML_DSA_65 = "ml-dsa-65"
    ML_DSA_87 = "ml-dsa-87"

    @classmethod
    def parse(cls, name: str) -> Algorithm:
        """Return the algorithm called ``name`` (exact, lower-case seed name)."""
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(a.value for a in cls)
            raise UnsupportedAlgorithm(
                f"unknown algorithm {name!r}; expected one of: {known}", UnsupportedReason.UNKNOWN_ALGORITHM
            ) from None

    @property
    def is_symmetric(self) -> bool:
        """True for MACs: their keys never appear in a public key set."""
        return self is Algorithm.HMAC_SHA256

    @property
    def jose_alg(self) -> str:
        """The JOSE (RFC 7518/8037) name of the same algorithm."""
        return _JOSE[self]

    @property
    def is_ml_dsa(self) -> bool:
        """True for the ML-DSA parameter sets (FIPS 204)."""
        return self in ML_DSA

    @property
    def signs_prehashed(self) -> bool:
        """True when the backend is given the digest as a pre-computed SHA-256 hash."""
        return self in (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256, Algorithm.ECDSA_P256_SHA256)


_JOSE = {
    Algorithm.ED25519: "EdDSA",
    Algorithm.RSA_SHA256: "RS256",
    Algorithm.RSA_PSS_SHA256: "PS256",
    Algorithm.ECDSA_P256_SHA256: "ES256",
    Algorithm.HMAC_SHA256: "HS256",
    # RFC 9964 (ML-DSA for JOSE and COSE), section 4
    Algorithm.ML_DSA_44: "ML-DSA-44",
    Algorithm.ML_DSA_65: "ML-DSA-65",
    Algorithm.ML_DSA_87: "ML-DSA-87",
}

ML_DSA = frozenset({Algorithm.ML_DSA_44, Algorithm.ML_DSA_65, Algorithm.ML_DSA_87})
"""The ML-DSA parameter sets (FIPS 204 table 1)."""
CLASSIC = frozenset(a for a in Algorithm if a not in ML_DSA)
"""Contract version 1's five algorithms: what a kind, backend or implementation that declares no
algorithm set is taken to do (ML-DSA is never assumed)."""
ASYMMETRIC = tuple(a for a in Algorithm if not a.is_symmetric)
