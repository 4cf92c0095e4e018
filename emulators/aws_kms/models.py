"""KMS semantics of the fidelity layer: moto's ``KmsBackend``/``Key`` with AWS's rules.

Everything here works on bytes and raises the typed errors of :mod:`.errors`; the wire layer
(:mod:`.responses`) only parses and serialises. What differs from plain moto 5.2.5:

* every cryptographic operation checks the key state (Disabled -> ``DisabledException``, any other
  non-Enabled state -> ``KMSInvalidStateException``) and the key usage (``InvalidKeyUsageException``);
* ``MessageType=DIGEST`` signs the given digest (length must equal the hash size); RAW is 1..4096 bytes;
* ``ECC_NIST_EDWARDS25519`` with ``ED25519_SHA_512`` (RAW only) and ``ED25519_PH_SHA_512`` (DIGEST only);
* RSA-PSS salt length = hash length; Verify of a bad signature raises ``KMSInvalidSignatureException``;
* GenerateMac/VerifyMac only with the key's own MAC algorithm;
* GetPublicKey, RotateKeyOnDemand and EnableKeyRotation refuse keys they do not apply to
  (``UnsupportedOperationException``); ScheduleKeyDeletion checks its 7..30 day window;
* key material is derived from a seed and the key id when the layer is seeded.

Known gaps (grants, policies, DryRun, multi-Region semantics, ...) are listed in
``docs/emulators/aws-kms.md``.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import Any

from moto.core.base_backend import BackendDict, backend_lock
from moto.kms.models import Key, KmsBackend
from moto.kms.utils import _deserialize_ciphertext_blob

from . import keys
from .errors import (
    DisabledException,
    EmulatorGap,
    InvalidKeyUsageException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
)

SIGN_VERIFY = "SIGN_VERIFY"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"


@dataclass
class Settings:
    """Process-wide settings of the layer; read when a region backend is (re)created."""

    seed: bytes | None = None


SETTINGS = Settings()
_settings_lock = threading.Lock()


def _allowed_usages(key_spec: str) -> frozenset[str]:
    if key_spec in keys.RSA_SPECS:
        return frozenset({SIGN_VERIFY, ENCRYPT_DECRYPT})
    if key_spec in keys.EC_SPECS or key_spec == keys.ED25519_SPEC:
        return frozenset({SIGN_VERIFY})  # KEY_AGREEMENT is a gap (no DeriveSharedSecret)
    if key_spec in keys.HMAC_SPECS:
        return frozenset({GENERATE_VERIFY_MAC})
    return frozenset({ENCRYPT_DECRYPT})


class FidelityKey(Key):
    """A moto ``Key`` whose material and algorithm lists follow AWS KMS."""

    def __init__(
        self,
        policy: str | None,
        key_usage: str,
        key_spec: str,
        description: str,
        account_id: str,
        region: str,
        multi_region: bool = False,
        origin: str = "AWS_KMS",
        seed: bytes | None = None,
    ) -> None:
        # moto's constructor makes an RSA-2048 pair for every non-ECC spec; give it a cheap spec
        # and replace the material right after.
        super().__init__(policy, key_usage, "ECC_NIST_P256", description, account_id, region, multi_region, origin)
        self.key_spec = key_spec
        self.material: keys.AsymmetricMaterial | None = None
        if keys.is_asymmetric(key_spec):
            self.material = keys.new_asymmetric(key_spec, seed, self.id)
        else:
            self.key_material = keys.new_secret(key_spec, seed, self.id)
        self.private_key = self.material  # type: ignore[assignment]  # moto paths that look here find ours

    @property
    def signing_algorithms(self) -> list[str]:
        return keys.signing_algorithms(self.key_spec) if self.key_usage == SIGN_VERIFY else None  # type: ignore[return-value]

    @property
    def mac_algorithms(self) -> list[str] | None:
        if self.key_usage != GENERATE_VERIFY_MAC:
            return None
        return [keys.HMAC_SPECS[self.key_spec]]

    @property
    def encryption_algorithms(self) -> list[str] | None:
        if self.key_usage != ENCRYPT_DECRYPT:
            return None
        return (
            ["SYMMETRIC_DEFAULT"]
            if self.key_spec == keys.SYMMETRIC_SPEC
            else ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        )

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        metadata = result["KeyMetadata"]
        metadata["MacAlgorithms"] = self.mac_algorithms
        result["KeyMetadata"] = {k: v for k, v in metadata.items() if v is not None}
        return result


class FidelityKmsBackend(KmsBackend):
    """moto's KMS backend with AWS's state, usage, message and algorithm rules (see module doc)."""

    def __init__(self, region_name: str, account_id: str | None = None) -> None:
        super().__init__(region_name, account_id)
        self.seed = SETTINGS.seed

    # -- helpers ----------------------------------------------------------------------------------
    def _key(self, key_id: str) -> FidelityKey:
        key = self.describe_key(key_id)
        assert isinstance(key, FidelityKey), "keys are created through FidelityKmsBackend.create_key"
        return key

    @staticmethod
    def check_state(key: Key) -> None:
        """AWS: Disabled -> DisabledException; any other non-Enabled state -> KMSInvalidStateException."""
        if key.key_state == "Enabled":
            return
        if key.key_state == "Disabled":
            raise DisabledException(f"{key.arn} is disabled.")
        if key.key_state == "PendingDeletion":
            raise KMSInvalidStateException(f"{key.arn} is pending deletion.")
        raise KMSInvalidStateException(f"{key.arn} is {key.key_state}.")

    @staticmethod
    def _check_usage(key: Key, usage: str, operation: str) -> None:
        if key.key_usage != usage:
            raise InvalidKeyUsageException(
                f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}."
            )

    def _checked_message(self, key: FidelityKey, message: bytes, algorithm: str, message_type: str) -> None:
        if algorithm not in keys.ALL_SIGNING:
            raise ValidationException(
                f"1 validation error detected: Value '{algorithm}' at 'signingAlgorithm' failed to satisfy "
                f"constraint: Member must satisfy enum value set: {sorted(keys.ALL_SIGNING)}"
            )
        if message_type not in keys.MESSAGE_TYPES:
            raise ValidationException(
                f"1 validation error detected: Value '{message_type}' at 'messageType' failed to satisfy "
                f"constraint: Member must satisfy enum value set: {sorted(keys.MESSAGE_TYPES)}"
            )
        if algorithm not in (key.signing_algorithms or []):
            raise InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")
        if message_type == "EXTERNAL_MU":
            raise InvalidKeyUsageException(
                f"Message type EXTERNAL_MU is only valid for ML-DSA keys, not {key.key_spec}."
            )
        if (algorithm == "ED25519_SHA_512" and message_type != "RAW") or (
            algorithm == "ED25519_PH_SHA_512" and message_type != "DIGEST"
        ):
            raise ValidationException(
                f"Message type {message_type} is incompatible with signing algorithm {algorithm}."
            )
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
            raise ValidationException("The provided data must be the same length as the hash algorithm's digest size.")

    # -- key lifecycle ----------------------------------------------------------------------------
    def create_key(
        self,
        policy: str | None,
        key_usage: str | None,
        key_spec: str | None,
        description: str,
        tags: list[dict[str, str]] | None,
        multi_region: bool = False,
        origin: str = "AWS_KMS",
    ) -> FidelityKey:
        spec = key_spec or keys.SYMMETRIC_SPEC
        usage = key_usage or ENCRYPT_DECRYPT
        if spec in keys.GAP_SPECS:
            raise EmulatorGap(f"key spec {spec} is not emulated by kmsconform's aws-kms layer")
        if spec not in keys.EMULATED_SPECS:
            raise ValidationException(
                f"1 validation error detected: Value '{spec}' at 'keySpec' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {sorted(keys.EMULATED_SPECS | keys.GAP_SPECS)}"
            )
        if usage not in _allowed_usages(spec):
            raise ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        if origin != "AWS_KMS":
            raise EmulatorGap(f"Origin {origin} is not emulated")
        key = FidelityKey(  # type: ignore[abstract]
            policy, usage, spec, description, self.account_id, self.region_name, multi_region, origin, seed=self.seed
        )
        self.keys[key.id] = key
        if tags:
            self.tagger.tag_resource(key.id, tags)
        return key

    def schedule_key_deletion(self, key_id: str, pending_window_in_days: int) -> float:
        if not 7 <= pending_window_in_days <= 30:
            raise ValidationException(
                f"1 validation error detected: Value '{pending_window_in_days}' at 'pendingWindowInDays' failed "
                "to satisfy constraint: Member must have value between 7 and 30"
            )
        key = self._key(key_id)
        if key.key_state == "PendingDeletion":
            raise KMSInvalidStateException(f"{key.arn} is pending deletion.")
        return super().schedule_key_deletion(key.id, pending_window_in_days)

    def disable_key(self, key_id: str) -> None:
        # real KMS takes a key id or key ARN here; moto indexes its dict by id (an ARN was a KeyError: HTTP 500)
        super().disable_key(self._key(key_id).id)

    def enable_key(self, key_id: str) -> None:
        super().enable_key(self._key(key_id).id)

    def enable_key_rotation(self, key_id: str) -> None:
        key = self._key(key_id)
        if key.key_spec != keys.SYMMETRIC_SPEC:
            raise UnsupportedOperationException(f"{key.arn} does not support automatic key rotation.")
        self.check_state(key)
        super().enable_key_rotation(key_id)

    def rotate_key_on_demand(self, key_id: str) -> str:
        key = self._key(key_id)
        if key.key_spec != keys.SYMMETRIC_SPEC:
            raise UnsupportedOperationException(f"{key.arn} does not support on-demand key rotation.")
        self.check_state(key)
        return super().rotate_key_on_demand(key_id)

    # -- signing ----------------------------------------------------------------------------------
    def sign(
        self, key_id: str, message: bytes, signing_algorithm: str, message_type: str = "RAW"
    ) -> tuple[str, bytes, str]:
        key = self._key(key_id)
        self.check_state(key)
        self._check_usage(key, SIGN_VERIFY, "Sign")
        self._checked_message(key, message, signing_algorithm, message_type)
        assert key.material is not None
        return key.arn, key.material.sign(message, signing_algorithm, message_type), signing_algorithm

    def verify(
        self, key_id: str, message: bytes, signature: bytes, signing_algorithm: str, message_type: str = "RAW"
    ) -> tuple[str, bool, str]:
        key = self._key(key_id)
        self.check_state(key)
        self._check_usage(key, SIGN_VERIFY, "Verify")
        self._checked_message(key, message, signing_algorithm, message_type)
        assert key.material is not None
        if not signature or not key.material.verify(message, signature, signing_algorithm, message_type):
            raise KMSInvalidSignatureException("")
        return key.arn, True, signing_algorithm

    def get_public_key(self, key_id: str) -> tuple[Key, bytes]:
        key = self._key(key_id)
        self.check_state(key)
        if key.material is None:
            raise UnsupportedOperationException(f"{key.arn} key usage is {key.key_usage}; it has no public key.")
        return key, key.material.public_key_der()

    # -- MACs -------------------------------------------------------------------------------------
    def _mac_key(self, key_id: str, mac_algorithm: str, message: bytes, operation: str) -> FidelityKey:
        key = self._key(key_id)
        self.check_state(key)
        self._check_usage(key, GENERATE_VERIFY_MAC, operation)
        if mac_algorithm not in keys.ALL_MAC:
            raise ValidationException(
                f"1 validation error detected: Value '{mac_algorithm}' at 'macAlgorithm' failed to satisfy "
                f"constraint: Member must satisfy enum value set: {sorted(keys.ALL_MAC)}"
            )
        if mac_algorithm not in (key.mac_algorithms or []):
            raise InvalidKeyUsageException(f"Algorithm {mac_algorithm} is incompatible with key spec {key.key_spec}.")
        if not 1 <= len(message) <= keys.RAW_MESSAGE_MAX:
            raise ValidationException("Message must be 1 to 4096 bytes long")
        return key

    def generate_mac_bytes(self, key_id: str, message: bytes, mac_algorithm: str) -> tuple[str, bytes, str]:
        key = self._mac_key(key_id, mac_algorithm, message, "GenerateMac")
        return key.arn, keys.mac(key.key_spec, key.key_material, message), mac_algorithm

    def verify_mac_bytes(self, key_id: str, message: bytes, mac_algorithm: str, mac: bytes) -> str:
        key = self._mac_key(key_id, mac_algorithm, message, "VerifyMac")
        if not hmac.compare_digest(keys.mac(key.key_spec, key.key_material, message), mac):
            raise KMSInvalidMacException("")
        return key.arn

    # -- encryption (state and usage only; moto's blob format is kept) ---------------------------
    def encrypt(self, key_id: str, plaintext: bytes, encryption_context: dict[str, str]) -> tuple[bytes, str]:
        key = self._key(key_id)
        self.check_state(key)
        self._check_usage(key, ENCRYPT_DECRYPT, "Encrypt")
        if key.key_spec != keys.SYMMETRIC_SPEC:
            raise EmulatorGap("asymmetric (RSAES_OAEP) encryption is not emulated")
        return super().encrypt(key.id, plaintext, encryption_context)

    def decrypt(
        self, ciphertext_blob: bytes, encryption_context: dict[str, str], key_id: str | None = None
    ) -> tuple[bytes, str]:
        try:
            owner = _deserialize_ciphertext_blob(ciphertext_blob).key_id
        except Exception:  # moto's own parser raises struct/Unicode errors on garbage
            owner = None
        if owner in self.keys:
            self.check_state(self.keys[owner])
        return super().decrypt(ciphertext_blob, encryption_context, key_id)

    def generate_data_key(
        self, key_id: str, encryption_context: dict[str, str], number_of_bytes: int, key_spec: str
    ) -> tuple[bytes, bytes, str]:
        key = self._key(key_id)
        self.check_state(key)
        self._check_usage(key, ENCRYPT_DECRYPT, "GenerateDataKey")
        return super().generate_data_key(key.id, encryption_context, number_of_bytes, key_spec)


# the stores moto resets (mock_aws start/stop, /moto-api/reset)
_REGISTERED: list[Any] = BackendDict._instances  # type: ignore[misc]


class FidelityBackendDict(BackendDict[FidelityKmsBackend]):
    """moto's per-account/region store, with one addition: while *pinned* (an HTTP emulator is serving
    clients), moto's global resets skip it. ``mock_aws()`` resets every registered store when it
    starts and stops; without this, any in-process moto test would wipe the keys of an emulator other
    processes are using. Pinned state is cleared by :meth:`clear` (``KmsEmulator.reset``) only."""

    def __init__(self) -> None:
        super().__init__(FidelityKmsBackend, "kms")
        self.pins = 0

    def _unregister(self) -> None:
        with backend_lock:
            if self in _REGISTERED:
                _REGISTERED.remove(self)

    def _create_account_specific_backend(self, account_id: str) -> None:
        super()._create_account_specific_backend(account_id)
        if self.pins:
            self._unregister()

    def pin(self) -> None:
        with backend_lock:
            self.pins += 1
            self._unregister()

    def unpin(self) -> None:
        with backend_lock:
            self.pins -= 1
            if not self.pins and len(self) and self not in _REGISTERED:
                _REGISTERED.append(self)


fidelity_kms_backends = FidelityBackendDict()


def set_seed(seed: bytes | None) -> None:
    """Seed key material (and moto's id generator) for backends created from now on."""
    from moto.moto_api._internal import mock_random

    with _settings_lock:
        SETTINGS.seed = seed
        if seed is not None:
            mock_random.seed(int.from_bytes(seed[:8].ljust(8, b"\0"), "big"))
