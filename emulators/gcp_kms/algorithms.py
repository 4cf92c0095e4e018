"""The CryptoKeyVersionAlgorithm values the emulator generates keys for, and what each one means.

Written from the ``CryptoKeyVersionAlgorithm`` documentation of google-cloud-kms 3.18
(``google/cloud/kms/v1/resources.proto``): ECDSA signatures are DER, Ed25519 is PureEdDSA over
``data``, RSA-PSS uses salt length = digest length, ``RSA_SIGN_RAW_PKCS1_*`` signs caller-encoded
``data`` with PKCS#1 v1.5 padding and no DigestInfo, ML-DSA is randomized (hedged) FIPS 204 over
``data`` (external-mu variants take a 64-byte ``digest.external_mu``), HMAC keys are as long as the
hash output, ``GOOGLE_SYMMETRIC_ENCRYPTION`` is AES-256-GCM with an emulator-private ciphertext layout.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from google.cloud.kms_v1 import CryptoKey, CryptoKeyVersion

Alg = CryptoKeyVersion.CryptoKeyVersionAlgorithm
Purpose = CryptoKey.CryptoKeyPurpose


class Family(enum.Enum):
    EC = "ec"
    ED25519 = "ed25519"
    RSA = "rsa"
    ML_DSA = "ml-dsa"
    HMAC = "hmac"
    AES = "aes"


class Scheme(enum.Enum):
    """How a signing or decryption key uses its material."""

    ECDSA = "ecdsa"
    EDDSA = "eddsa"
    PSS = "pss"
    PKCS1 = "pkcs1"
    RAW_PKCS1 = "raw-pkcs1"
    ML_DSA = "ml-dsa"
    ML_DSA_MU = "ml-dsa-external-mu"
    OAEP = "oaep"
    HMAC = "hmac"
    GCM = "aes-gcm"


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm.

    :param hash: ``sha1``/``sha224``/``sha256``/``sha384``/``sha512`` (the ``Digest`` field the
        signing request must use, or the MAC/OAEP hash); ``external_mu`` for ML-DSA external-mu;
        ``None`` when the algorithm takes ``data`` only.
    :param size: RSA modulus bits, EC curve name, ML-DSA parameter set, or key bytes (HMAC, AES).
    :param hsm_only: the service offers it at protection level HSM only.
    """

    alg: int  # a CryptoKeyVersionAlgorithm value
    purpose: int  # a CryptoKeyPurpose value
    family: Family
    scheme: Scheme
    hash: str | None
    size: int | str
    hsm_only: bool = False

    @property
    def name(self) -> str:
        return str(Alg(self.alg).name)

    @property
    def is_pqc(self) -> bool:
        return self.family is Family.ML_DSA

    @property
    def is_asymmetric(self) -> bool:
        return self.purpose in (Purpose.ASYMMETRIC_SIGN, Purpose.ASYMMETRIC_DECRYPT)


def _rsa(alg: int, scheme: Scheme, bits: int, hash_name: str | None) -> AlgorithmSpec:
    purpose = Purpose.ASYMMETRIC_DECRYPT if scheme is Scheme.OAEP else Purpose.ASYMMETRIC_SIGN
    return AlgorithmSpec(alg, purpose, Family.RSA, scheme, hash_name, bits)


SIGN = Purpose.ASYMMETRIC_SIGN
SPECS: dict[int, AlgorithmSpec] = {
    s.alg: s
    for s in (
        AlgorithmSpec(Alg.EC_SIGN_P256_SHA256, SIGN, Family.EC, Scheme.ECDSA, "sha256", "secp256r1"),
        AlgorithmSpec(Alg.EC_SIGN_P384_SHA384, SIGN, Family.EC, Scheme.ECDSA, "sha384", "secp384r1"),
        AlgorithmSpec(Alg.EC_SIGN_SECP256K1_SHA256, SIGN, Family.EC, Scheme.ECDSA, "sha256", "secp256k1", True),
        AlgorithmSpec(Alg.EC_SIGN_ED25519, SIGN, Family.ED25519, Scheme.EDDSA, None, "ed25519"),
        _rsa(Alg.RSA_SIGN_PSS_2048_SHA256, Scheme.PSS, 2048, "sha256"),
        _rsa(Alg.RSA_SIGN_PSS_3072_SHA256, Scheme.PSS, 3072, "sha256"),
        _rsa(Alg.RSA_SIGN_PSS_4096_SHA256, Scheme.PSS, 4096, "sha256"),
        _rsa(Alg.RSA_SIGN_PSS_4096_SHA512, Scheme.PSS, 4096, "sha512"),
        _rsa(Alg.RSA_SIGN_PKCS1_2048_SHA256, Scheme.PKCS1, 2048, "sha256"),
        _rsa(Alg.RSA_SIGN_PKCS1_3072_SHA256, Scheme.PKCS1, 3072, "sha256"),
        _rsa(Alg.RSA_SIGN_PKCS1_4096_SHA256, Scheme.PKCS1, 4096, "sha256"),
        _rsa(Alg.RSA_SIGN_PKCS1_4096_SHA512, Scheme.PKCS1, 4096, "sha512"),
        _rsa(Alg.RSA_SIGN_RAW_PKCS1_2048, Scheme.RAW_PKCS1, 2048, None),
        _rsa(Alg.RSA_SIGN_RAW_PKCS1_3072, Scheme.RAW_PKCS1, 3072, None),
        _rsa(Alg.RSA_SIGN_RAW_PKCS1_4096, Scheme.RAW_PKCS1, 4096, None),
        _rsa(Alg.RSA_DECRYPT_OAEP_2048_SHA256, Scheme.OAEP, 2048, "sha256"),
        _rsa(Alg.RSA_DECRYPT_OAEP_3072_SHA256, Scheme.OAEP, 3072, "sha256"),
        _rsa(Alg.RSA_DECRYPT_OAEP_4096_SHA256, Scheme.OAEP, 4096, "sha256"),
        _rsa(Alg.RSA_DECRYPT_OAEP_4096_SHA512, Scheme.OAEP, 4096, "sha512"),
        _rsa(Alg.RSA_DECRYPT_OAEP_2048_SHA1, Scheme.OAEP, 2048, "sha1"),
        _rsa(Alg.RSA_DECRYPT_OAEP_3072_SHA1, Scheme.OAEP, 3072, "sha1"),
        _rsa(Alg.RSA_DECRYPT_OAEP_4096_SHA1, Scheme.OAEP, 4096, "sha1"),
        AlgorithmSpec(Alg.PQ_SIGN_ML_DSA_44, SIGN, Family.ML_DSA, Scheme.ML_DSA, None, 44),
        AlgorithmSpec(Alg.PQ_SIGN_ML_DSA_65, SIGN, Family.ML_DSA, Scheme.ML_DSA, None, 65),
        AlgorithmSpec(Alg.PQ_SIGN_ML_DSA_87, SIGN, Family.ML_DSA, Scheme.ML_DSA, None, 87),
        AlgorithmSpec(Alg.PQ_SIGN_ML_DSA_44_EXTERNAL_MU, SIGN, Family.ML_DSA, Scheme.ML_DSA_MU, "external_mu", 44),
        AlgorithmSpec(Alg.PQ_SIGN_ML_DSA_65_EXTERNAL_MU, SIGN, Family.ML_DSA, Scheme.ML_DSA_MU, "external_mu", 65),
        AlgorithmSpec(Alg.PQ_SIGN_ML_DSA_87_EXTERNAL_MU, SIGN, Family.ML_DSA, Scheme.ML_DSA_MU, "external_mu", 87),
        AlgorithmSpec(Alg.HMAC_SHA1, Purpose.MAC, Family.HMAC, Scheme.HMAC, "sha1", 20),
        AlgorithmSpec(Alg.HMAC_SHA224, Purpose.MAC, Family.HMAC, Scheme.HMAC, "sha224", 28),
        AlgorithmSpec(Alg.HMAC_SHA256, Purpose.MAC, Family.HMAC, Scheme.HMAC, "sha256", 32),
        AlgorithmSpec(Alg.HMAC_SHA384, Purpose.MAC, Family.HMAC, Scheme.HMAC, "sha384", 48),
        AlgorithmSpec(Alg.HMAC_SHA512, Purpose.MAC, Family.HMAC, Scheme.HMAC, "sha512", 64),
        AlgorithmSpec(Alg.GOOGLE_SYMMETRIC_ENCRYPTION, Purpose.ENCRYPT_DECRYPT, Family.AES, Scheme.GCM, None, 32),
    )
}

DIGEST_SIZES = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64, "external_mu": 64}
DEFAULT_ALGORITHM: dict[int, int] = {Purpose.ENCRYPT_DECRYPT: Alg.GOOGLE_SYMMETRIC_ENCRYPTION}
"""The algorithm a ``version_template`` may omit, by purpose (others must name one)."""
EMULATED_PURPOSES: frozenset[int] = frozenset(
    {Purpose.ASYMMETRIC_SIGN, Purpose.ASYMMETRIC_DECRYPT, Purpose.MAC, Purpose.ENCRYPT_DECRYPT}
)


def spec_of(alg: int) -> AlgorithmSpec | None:
    return SPECS.get(int(alg))
