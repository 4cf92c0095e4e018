"""Wire layer: AWS JSON 1.1 requests to :class:`~.models.FidelityKmsBackend` calls and back.

Only parsing and serialising happens here (base64, parameter names, response shapes); every
rule lives in the model. moto's ``KmsResponse`` handles the operations we do not override.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from moto.kms.responses import KmsResponse

from .errors import EmulatorGap, ValidationException
from .models import FidelityKmsBackend, fidelity_kms_backends


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class FidelityKmsResponse(KmsResponse):
    @property
    def kms_backend(self) -> FidelityKmsBackend:
        return fidelity_kms_backends[self.current_account][self.region]

    def _blob(self, name: str) -> bytes:
        """A base64 blob parameter moto does not decode itself (``Signature``, ``Mac``)."""
        value = json.loads(self.body).get(name)
        if value is None:
            return b""
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationException(f"{name} is not valid base64") from None

    def _refuse_dry_run(self) -> None:
        if self._get_param("DryRun"):
            raise EmulatorGap("DryRun is not emulated (real KMS answers DryRunOperationException)")

    def _message(self) -> bytes:
        message: Any = self._get_param("Message")
        if message is None:
            return b""
        return message.encode() if isinstance(message, str) else bytes(message)

    def sign(self) -> str:
        self._refuse_dry_run()
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        arn, signature, algorithm = self.kms_backend.sign(
            key_id=key_id,
            message=self._message(),
            signing_algorithm=self._get_param("SigningAlgorithm"),
            message_type=self._get_param("MessageType") or "RAW",
        )
        return json.dumps({"KeyId": arn, "Signature": _b64(signature), "SigningAlgorithm": algorithm})

    def verify(self) -> str:
        self._refuse_dry_run()
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        arn, valid, algorithm = self.kms_backend.verify(
            key_id=key_id,
            message=self._message(),
            signature=self._blob("Signature"),
            signing_algorithm=self._get_param("SigningAlgorithm"),
            message_type=self._get_param("MessageType") or "RAW",
        )
        return json.dumps({"KeyId": arn, "SignatureValid": valid, "SigningAlgorithm": algorithm})

    def generate_mac(self) -> str:
        self._refuse_dry_run()
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        arn, mac, algorithm = self.kms_backend.generate_mac_bytes(
            key_id, self._message(), self._get_param("MacAlgorithm")
        )
        return json.dumps({"Mac": _b64(mac), "MacAlgorithm": algorithm, "KeyId": arn})

    def verify_mac(self) -> str:
        self._refuse_dry_run()
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        algorithm = self._get_param("MacAlgorithm")
        arn = self.kms_backend.verify_mac_bytes(key_id, self._message(), algorithm, self._blob("Mac"))
        return json.dumps({"KeyId": arn, "MacValid": True, "MacAlgorithm": algorithm})

    def get_public_key(self) -> str:
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        key, der = self.kms_backend.get_public_key(key_id)
        body = {
            "KeyId": key.arn,
            "PublicKey": _b64(der),
            "CustomerMasterKeySpec": key.key_spec,
            "KeySpec": key.key_spec,
            "KeyUsage": key.key_usage,
            "SigningAlgorithms": key.signing_algorithms,
            "EncryptionAlgorithms": key.encryption_algorithms,
        }
        return json.dumps({k: v for k, v in body.items() if v is not None})

    def schedule_key_deletion(self) -> str:
        key_id = self._get_param("KeyId")
        window = self._get_param("PendingWindowInDays")
        self._validate_cmk_id(key_id)
        days = 30 if window is None else int(window)
        deletion_date = self.kms_backend.schedule_key_deletion(key_id, days)
        key = self.kms_backend.describe_key(key_id)
        return json.dumps(
            {"KeyId": key.arn, "DeletionDate": deletion_date, "KeyState": key.key_state, "PendingWindowInDays": days}
        )
