"""Imported key material (``Origin=EXTERNAL``): GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, expiry (AWS KMS Developer Guide, "Importing key material").

* GetParametersForImport makes a real RSA wrapping key (RSA_2048/3072/4096) and an opaque import
  token, valid 24 hours; the private half never leaves the emulator.
* ImportKeyMaterial unwraps with ``RSAES_OAEP_SHA_1``/``RSAES_OAEP_SHA_256`` (material encrypted
  with the wrapping key) or ``RSA_AES_KEY_WRAP_SHA_1``/``_SHA_256`` (an AES-256 key OAEP-encrypted with
  the wrapping key, followed by the material wrapped with it per RFC 5649). Material: 32 bytes for
  ``SYMMETRIC_DEFAULT``; for HMAC keys, from the spec's length up to the hash's block size; a DER
  PKCS#8 private key of the key's spec for RSA, ECC and Ed25519 keys (seed 002's import path).
* Re-importing the same material restores a key whose material was deleted or expired; different
  material is ``IncorrectKeyMaterialException``. A symmetric key that has material takes
  ``ImportType=NEW_KEY_MATERIAL`` as ``PENDING_ROTATION`` until RotateKeyOnDemand.
* ``KEY_MATERIAL_EXPIRES`` needs ``ValidTo``; past it the material is deleted and the key is
  ``PendingImport`` again (checked on every lookup, see :class:`~.store.KeyStore`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import keys
from .errors import (
    EmulatorGap,
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
)
from .key import CURRENT, PENDING_ROTATION, FidelityKey, KeyMaterial
from .key_states import KeyState
from .store import KeyStore

WRAPPING_KEY_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")
PARAMETERS_LIFETIME = 24 * 3600
HMAC_MATERIAL_BYTES = {"HMAC_224": (28, 64), "HMAC_256": (32, 64), "HMAC_384": (48, 128), "HMAC_512": (64, 128)}


@dataclass(frozen=True)
class ImportParameters:
    key_id: str
    wrapping_algorithm: str
    private: rsa.RSAPrivateKey
    valid_to: float


def unwrap(parameters: ImportParameters, encrypted: bytes) -> bytes:
    oaep = keys.oaep(parameters.wrapping_algorithm)
    try:
        if parameters.wrapping_algorithm.startswith("RSAES_OAEP"):
            return parameters.private.decrypt(encrypted, oaep)
        size = parameters.private.key_size // 8
        aes_key = parameters.private.decrypt(encrypted[:size], oaep)
        return keywrap.aes_key_unwrap_with_padding(aes_key, encrypted[size:])
    except (ValueError, keywrap.InvalidUnwrap):
        raise InvalidCiphertextException() from None


def material_from(key: FidelityKey, raw: bytes) -> KeyMaterial:
    """Check unwrapped material against the key spec; its id is stable for the same material."""
    material_id = hashlib.sha256(key.id.encode() + b"\0" + raw).hexdigest()
    if key.key_spec == keys.SYMMETRIC_SPEC:
        if len(raw) != 32:
            raise IncorrectKeyMaterialException("Symmetric key material must be 256 bits (32 bytes).")
        return KeyMaterial(material_id, secret=raw, imported=True)
    if key.key_spec in HMAC_MATERIAL_BYTES:
        low, high = HMAC_MATERIAL_BYTES[key.key_spec]
        if not low <= len(raw) <= high:
            raise IncorrectKeyMaterialException(f"Key material for {key.key_spec} must be {low} to {high} bytes.")
        return KeyMaterial(material_id, secret=raw, imported=True)
    try:
        private = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise IncorrectKeyMaterialException("The key material is not a DER-encoded PKCS#8 private key.") from None
    if not keys.public_matches_spec(key.key_spec, private):
        raise IncorrectKeyMaterialException(f"The key material does not match key spec {key.key_spec}.")
    material = keys.AsymmetricMaterial(key.key_spec, private)  # type: ignore[arg-type]
    return KeyMaterial(hashlib.sha256(material.public_key_der()).hexdigest(), asymmetric=material, imported=True)


class ImportOps(KeyStore):
    import_parameters: dict[bytes, ImportParameters]

    def parameters_for_import(
        self, key_id: str, wrapping_algorithm: str, wrapping_key_spec: str
    ) -> tuple[FidelityKey, bytes, bytes, float]:
        key = self.gated("GetParametersForImport", key_id, aliases=False)
        if wrapping_algorithm not in WRAPPING_ALGORITHMS:
            raise EmulatorGap(
                f"wrapping algorithm {wrapping_algorithm} is not emulated "
                "(RSAES_PKCS1_V1_5 is retired, SM2PKE is China only)"
            )
        if wrapping_key_spec not in WRAPPING_KEY_BITS:
            raise EmulatorGap(f"wrapping key spec {wrapping_key_spec} is not emulated")
        private = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_BITS[wrapping_key_spec])
        token = os.urandom(64)
        valid_to = self.clock() + PARAMETERS_LIFETIME
        self.import_parameters[token] = ImportParameters(key.id, wrapping_algorithm, private, valid_to)
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return key, token, public, valid_to

    def import_material(
        self,
        key_id: str,
        token: bytes,
        encrypted: bytes,
        expiration_model: str | None,
        valid_to: float | None,
        import_type: str | None,
        description: str | None,
    ) -> tuple[FidelityKey, str]:
        key = self.gated("ImportKeyMaterial", key_id, aliases=False)
        model = expiration_model or "KEY_MATERIAL_EXPIRES"
        if model == "KEY_MATERIAL_EXPIRES" and valid_to is None:
            raise ValidationException("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
        if model == "KEY_MATERIAL_DOES_NOT_EXPIRE" and valid_to is not None:
            raise ValidationException(
                "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
            )
        if valid_to is not None and valid_to <= self.clock():
            raise ValidationException("The ValidTo date must be in the future.")
        parameters = self.import_parameters.get(token)
        if parameters is None or parameters.key_id != key.id:
            raise InvalidImportTokenException("Import token is not valid for this KMS key.")
        if parameters.valid_to <= self.clock():
            raise ExpiredImportTokenException("The import token has expired.")
        incoming = material_from(key, unwrap(parameters, encrypted))
        incoming.expiration_model, incoming.valid_to, incoming.description = model, valid_to, description
        known = next((m for m in key.materials if m.material_id == incoming.material_id), None)
        new = import_type == "NEW_KEY_MATERIAL" or (import_type is None and not key.materials)
        if known is not None:
            known.deleted, known.expiration_model, known.valid_to = False, model, valid_to
            if known.state == CURRENT and key.key_state == KeyState.PENDING_IMPORT.value:
                key.key_state, key.enabled = KeyState.ENABLED.value, True  # a Disabled key stays Disabled
            return key, known.material_id
        if not key.materials:
            key.make_current(incoming, None, None)
            key.key_state, key.enabled = KeyState.ENABLED.value, True
            return key, incoming.material_id
        if not new:
            raise IncorrectKeyMaterialException(
                "The key material is not the same key material that was previously imported into this KMS key."
            )
        if key.key_spec != keys.SYMMETRIC_SPEC:
            raise UnsupportedOperationException(
                f"{key.arn} supports only the key material it was imported with (no NEW_KEY_MATERIAL)."
            )
        pending = next((m for m in key.materials if m.state == PENDING_ROTATION), None)
        if pending is not None:
            raise KMSInvalidStateException(
                f"New key material (id: {incoming.material_id}) cannot be imported into KMS key {key.arn}, "
                f"because another key material (id: {pending.material_id}) is pending rotation."
            )
        incoming.state = PENDING_ROTATION
        key.materials.append(incoming)
        return key, incoming.material_id

    def delete_imported_material(self, key_id: str, material_id: str | None) -> tuple[FidelityKey, str | None]:
        key = self.gated("DeleteImportedKeyMaterial", key_id, aliases=False)
        targets = [m for m in key.materials if m.imported and not m.deleted]
        if material_id is not None:
            targets = [m for m in targets if m.material_id == material_id]
        for material in targets:
            material.deleted, material.expiration_model, material.valid_to = True, None, None
        if any(m.state == CURRENT for m in targets):
            key.key_state, key.enabled = KeyState.PENDING_IMPORT.value, False
        current = key.current_material_id
        return key, (material_id or current)
