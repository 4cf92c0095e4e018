"""Cryptographic operations: sign/verify, MACs, encryption (symmetric and RSAES-OAEP), data keys and
data key pairs, key agreement (ECDH) and random bytes, each behind AWS's key-state table.

Order of checks, as AWS answers: the key lookup, then the key state, then the key usage, then the
algorithm and message. Messages are AWS's where an AWS-validated recording has them (LocalStack's
``test_sign_verify``, ``test_error_messaging_for_invalid_keys``, ``test_encrypt_validate_plaintext_size_per_key_type``,
``test_derive_shared_secret``).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import ciphertext, keys
from .errors import (
    EmulatorGap,
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from .key import ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, SIGN_VERIFY, FidelityKey
from .store import KeyStore


@dataclass(frozen=True)
class Decrypted:
    key: FidelityKey
    plaintext: bytes
    algorithm: str
    material_id: str | None  # symmetric keys only


@dataclass(frozen=True)
class Encrypted:
    key: FidelityKey
    blob: bytes
    algorithm: str
    material_id: str | None


def _enum_error(value: str, member: str, allowed: list[str]) -> ValidationException:
    return ValidationException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(allowed)}]"
    )


class CryptoOps(KeyStore):
    @staticmethod
    def _check_usage(key: FidelityKey, usage: str, operation: str) -> None:
        if key.key_usage != usage:
            raise InvalidKeyUsageException(
                f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}."
            )

    # -- signing ----------------------------------------------------------------------------------
    def _checked_message(self, key: FidelityKey, message: bytes, algorithm: str, message_type: str) -> None:
        if algorithm not in keys.ALL_SIGNING:
            raise _enum_error(algorithm, "signingAlgorithm", sorted(keys.ALL_SIGNING))
        if message_type not in keys.MESSAGE_TYPES:
            raise _enum_error(message_type, "messageType", sorted(keys.MESSAGE_TYPES))
        if algorithm not in (key.signing_algorithms or []):
            raise InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")
        if message_type == "EXTERNAL_MU" and key.key_spec not in keys.ML_DSA_SPECS:
            raise InvalidKeyUsageException(
                f"Message type EXTERNAL_MU is only valid for ML-DSA keys, not {key.key_spec}."
            )
        refused = keys.message_type_error(key.key_spec, algorithm, message_type, message)
        if refused is not None:
            raise ValidationException(refused)
        if not message:
            raise ValidationException(
                "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            )
        if message_type == "RAW" and len(message) > keys.RAW_MESSAGE_MAX:
            raise ValidationException(
                "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                "Member must have length less than or equal to 4096"
            )
        if message_type == "DIGEST" and len(message) != keys.hash_for(algorithm).digest_size:
            raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")

    def sign(
        self, key_id: str, message: bytes, signing_algorithm: str, message_type: str = "RAW"
    ) -> tuple[str, bytes, str]:
        key = self.gated("Sign", key_id)
        self._check_usage(key, SIGN_VERIFY, "Sign")
        self._checked_message(key, message, signing_algorithm, message_type)
        assert key.material is not None
        return key.arn, key.material.sign(message, signing_algorithm, message_type), signing_algorithm

    def verify(
        self, key_id: str, message: bytes, signature: bytes, signing_algorithm: str, message_type: str = "RAW"
    ) -> tuple[str, bool, str]:
        key = self.gated("Verify", key_id)
        self._check_usage(key, SIGN_VERIFY, "Verify")
        self._checked_message(key, message, signing_algorithm, message_type)
        if not signature:
            raise ValidationException(
                "1 validation error detected: Value at 'signature' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            )
        assert key.material is not None
        if not key.material.verify(message, signature, signing_algorithm, message_type):
            raise KMSInvalidSignatureException()
        return key.arn, True, signing_algorithm

    def get_public_key(self, key_id: str) -> tuple[FidelityKey, bytes]:
        key = self.gated("GetPublicKey", key_id)
        if key.material is None:
            raise UnsupportedOperationException(
                f"{key.arn} key usage is {key.key_usage} which is not valid for GetPublicKey."
            )
        return key, key.material.public_key_der()

    # -- MACs -------------------------------------------------------------------------------------
    def _mac_key(self, key_id: str, mac_algorithm: str, operation: str) -> FidelityKey:
        key = self.gated(operation, key_id)
        self._check_usage(key, GENERATE_VERIFY_MAC, operation)
        if mac_algorithm not in keys.ALL_MAC:
            raise _enum_error(mac_algorithm, "macAlgorithm", sorted(keys.ALL_MAC))
        if mac_algorithm not in (key.mac_algorithms or []):
            raise InvalidKeyUsageException(f"Algorithm {mac_algorithm} is incompatible with key spec {key.key_spec}.")
        return key

    def generate_mac_bytes(self, key_id: str, message: bytes, mac_algorithm: str) -> tuple[str, bytes, str]:
        key = self._mac_key(key_id, mac_algorithm, "GenerateMac")
        return key.arn, keys.mac(key.key_spec, key.secret, message), mac_algorithm

    def verify_mac_bytes(self, key_id: str, message: bytes, mac_algorithm: str, mac: bytes) -> str:
        key = self._mac_key(key_id, mac_algorithm, "VerifyMac")
        if not hmac.compare_digest(keys.mac(key.key_spec, key.secret, message), mac):
            raise KMSInvalidMacException()
        return key.arn

    # -- encryption -------------------------------------------------------------------------------
    @staticmethod
    def _algorithm(key: FidelityKey, algorithm: str | None) -> str:
        chosen = algorithm or "SYMMETRIC_DEFAULT"
        if chosen not in (key.encryption_algorithms or []):
            raise InvalidKeyUsageException(f"Algorithm {chosen} is incompatible with key spec {key.key_spec}.")
        return chosen

    def seal(
        self, key_id: str, plaintext: bytes, context: dict[str, str] | None, algorithm: str | None, operation: str
    ) -> Encrypted:
        key = self.gated(operation, key_id)
        self._check_usage(key, ENCRYPT_DECRYPT, operation)
        chosen = self._algorithm(key, algorithm)
        if key.key_spec == keys.SYMMETRIC_SPEC:
            current = key.current
            assert current is not None and current.secret is not None
            blob = ciphertext.seal(key.id, current.material_id, current.secret, plaintext, context)
            return Encrypted(key, blob, chosen, current.material_id)
        limit = keys.rsa_plaintext_limit(key.key_spec, chosen)
        if len(plaintext) > limit:
            raise ValidationException(
                f"Algorithm {chosen} and key spec {key.key_spec} cannot encrypt data larger than {limit} bytes."
            )
        assert key.material is not None
        return Encrypted(key, key.material.encrypt(plaintext, chosen), chosen, None)

    def unseal(
        self, blob: bytes, context: dict[str, str] | None, key_id: str | None, algorithm: str | None, operation: str
    ) -> Decrypted:
        if key_id:
            key = self.resolve(key_id)
            if key.key_usage != ENCRYPT_DECRYPT:
                raise IncorrectKeyException(
                    "The key ID in the request does not identify a CMK that can perform this operation."
                )
        else:
            owner, _ = ciphertext.header(blob)
            try:
                key = self.resolve(owner, aliases=False)
            except NotFoundException:
                raise InvalidCiphertextException() from None
        self.gate(operation, key)
        chosen = self._algorithm(key, algorithm)
        if key.key_spec != keys.SYMMETRIC_SPEC:
            assert key.material is not None
            try:
                return Decrypted(key, key.material.decrypt(blob, chosen), chosen, None)
            except ValueError:
                raise InvalidCiphertextException() from None
        owner, material_id = ciphertext.header(blob)
        if owner != key.id:
            raise IncorrectKeyException(
                "The key ID in the request does not identify a CMK that can perform this operation."
            )
        material = key.material_by_id(material_id)
        if material is None or material.secret is None:
            raise InvalidCiphertextException()
        return Decrypted(key, ciphertext.open_blob(blob, material.secret, context), chosen, material_id)

    def _data_key_target(self, key_id: str, operation: str) -> FidelityKey:
        key = self.gated(operation, key_id)
        self._check_usage(key, ENCRYPT_DECRYPT, operation)
        if key.key_spec != keys.SYMMETRIC_SPEC:
            raise InvalidKeyUsageException(f"{key.arn} key spec {key.key_spec} is not valid for {operation}.")
        return key

    @staticmethod
    def _seal_data(key: FidelityKey, plaintext: bytes, context: dict[str, str] | None) -> Encrypted:
        current = key.current
        assert current is not None and current.secret is not None
        blob = ciphertext.seal(key.id, current.material_id, current.secret, plaintext, context)
        return Encrypted(key, blob, "SYMMETRIC_DEFAULT", current.material_id)

    def data_key(
        self,
        key_id: str,
        context: dict[str, str] | None,
        number_of_bytes: int | None,
        key_spec: str | None,
        operation: str,
    ) -> tuple[bytes, Encrypted]:
        key = self._data_key_target(key_id, operation)
        if (number_of_bytes is None) == (key_spec is None):
            raise ValidationException("Please specify either number of bytes or key spec.")
        size = number_of_bytes if number_of_bytes is not None else {"AES_128": 16, "AES_256": 32}[str(key_spec)]
        plaintext = os.urandom(size)
        return plaintext, self._seal_data(key, plaintext, context)

    def data_key_pair(
        self, key_id: str, context: dict[str, str] | None, pair_spec: str, operation: str
    ) -> tuple[keys.AsymmetricMaterial, Encrypted]:
        key = self._data_key_target(key_id, operation)
        if pair_spec not in keys.DATA_KEY_PAIR_SPECS:
            raise EmulatorGap(f"data key pair spec {pair_spec} is not emulated")
        pair = keys.new_asymmetric(pair_spec, None, "")
        return pair, self._seal_data(key, pair.private_pkcs8(), context)

    # -- key agreement ----------------------------------------------------------------------------
    def derive_shared_secret(self, key_id: str, algorithm: str, public_key: bytes) -> tuple[FidelityKey, bytes]:
        key = self.gated("DeriveSharedSecret", key_id)
        self._check_usage(key, KEY_AGREEMENT, "DeriveSharedSecret")
        if algorithm != "ECDH":
            raise _enum_error(algorithm, "keyAgreementAlgorithm", ["ECDH"])
        try:
            peer = serialization.load_der_public_key(public_key)
        except ValueError:
            raise ValidationException() from None
        assert key.material is not None
        own = key.material.private
        if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(own, ec.EllipticCurvePrivateKey):
            raise ValidationException()
        if peer.curve.name != own.curve.name:
            raise ValidationException()
        return key, key.material.exchange(peer)
