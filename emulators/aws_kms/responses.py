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

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import JsonRESTError
from moto.kms.responses import KmsResponse

from . import handlers, handlers_crypto, handlers_keys  # noqa: F401  # the last two register handlers
from .errors import EmulatorGap, KmsError, SerializationException
from .models import FidelityKmsBackend, fidelity_kms_backends
from .validation import operation_names, validate


class UnknownOperationException(KmsError):
    error_code = "UnknownOperationException"


class FidelityKmsResponse(KmsResponse):
    @property
    def kms_backend(self) -> FidelityKmsBackend:
        return fidelity_kms_backends[self.current_account][self.region]

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
            self._authenticate_and_authorize_normal_action("*")
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
            body = handler(self.kms_backend, params)
        except JsonRESTError as error:  # ours (KmsError) and moto's (authentication, policy denial)
            headers["X-Amzn-ErrorType"] = error.error_type
            return error.code, headers, error.get_body()
        return 200, headers, json.dumps(body)
