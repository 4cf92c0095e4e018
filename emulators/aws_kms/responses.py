"""Wire layer: AWS JSON 1.1 requests to :mod:`.handlers` and back, for every KMS operation.

Each request is parsed, validated against AWS's service model (:mod:`.validation`), dispatched by
operation name to one handler, and answered with JSON: a typed error from the model becomes
``{"__type": code[, "message": text]}`` with its HTTP status. Operations of the API we do not model
answer ``KmsConformEmulatorGap`` (HTTP 501), an unknown operation ``UnknownOperationException``;
nothing reaches moto's own KMS handlers, so no request ends in moto's HTML error page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import JsonRESTError
from moto.kms.responses import KmsResponse

from . import handlers, handlers_crypto, handlers_keys  # noqa: F401  # the last two register handlers
from .errors import EmulatorGap, KmsError, SerializationException
from .iam import kms_access
from .iam.model import IAM, Caller
from .models import FidelityKmsBackend, fidelity_kms_backends
from .validation import operation_names, validate


class UnknownOperationException(KmsError):
    error_code = "UnknownOperationException"


class FidelityKmsResponse(KmsResponse):
    @property
    def kms_backend(self) -> FidelityKmsBackend:
        return fidelity_kms_backends[self.current_account][self.region]

    def get_current_account(self) -> str:
        """The account of an access key the IAM model issued (:mod:`.iam`), else moto's answer."""
        account = IAM.account_of(self.get_access_key())
        return account if account is not None else str(super().get_current_account())

    def _caller(self) -> Caller | None:
        """The authenticated caller when the IAM model enforces this request; else moto's check."""
        if not IAM.enforces(kms_access.access_key_of(self.headers)):
            self._authenticate_and_authorize_normal_action("*")
            return None
        body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode()
        path = self.raw_path + (f"?{urlparse(self.uri).query}" if urlparse(self.uri).query else "")
        return kms_access.authenticate(method=self.method, path=path, headers=self.headers, body=body)

    def _params(self) -> Any:
        body = self.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if not body:
            return {}
        try:
            return json.loads(body)
        except ValueError:
            raise SerializationException("The request body is not valid JSON") from None

    def call_action(self) -> TYPE_RESPONSE:
        headers = dict(self.response_headers)
        headers["Content-Type"] = "application/x-amz-json-1.1"
        try:
            caller = self._caller()
            action = self._get_action()
            handler = handlers.HANDLERS.get(action)
            if handler is None:
                if action in handlers.GAPS:
                    raise EmulatorGap(f"{action}: {handlers.GAPS[action]}")
                if action in operation_names():
                    raise EmulatorGap(f"{action} is not emulated by kmsconform's aws-kms layer")
                raise UnknownOperationException(f"Unknown operation {action!r}")
            params = self._params()
            validate(action, params)
            if caller is not None:
                kms_access.authorize(caller, action, params, self.kms_backend)
            body = handler(self.kms_backend, params)
        except JsonRESTError as error:  # ours (KmsError, IAM included) and moto's (its own IAM check)
            headers["X-Amzn-ErrorType"] = error.error_type
            return error.code, headers, error.get_body()
        return 200, headers, json.dumps(body)
