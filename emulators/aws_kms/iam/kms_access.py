"""IAM in front of every KMS operation: authenticate the request, then authorize the action on its key.

Called by :meth:`~..responses.FidelityKmsResponse.call_action` for requests the model enforces
(:meth:`~.model.IamModel.enforces`), in process and over HTTP alike. The action is ``kms:<Operation>``;
the resource is the key's ARN, as AWS evaluates it:

* a request naming a key (``KeyId``, by id, ARN, alias name or alias ARN) is authorized on the ARN of
  the key it resolves to (an alias is never the resource of a key operation); a key that does not
  exist is authorized on the ARN the request names, and the model answers ``NotFoundException`` after;
* ``CreateAlias`` / ``UpdateAlias`` / ``DeleteAlias`` need the action on the alias ARN and on the key;
* ``ReEncrypt`` needs ``kms:ReEncryptFrom`` on the source key and ``kms:ReEncryptTo`` on the destination;
* ``Decrypt`` without ``KeyId`` is authorized on the key the ciphertext names;
* operations on no key (``CreateKey``, ``ListKeys``, ``ListAliases``, ``GenerateRandom``, ...) on ``*``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from .. import ciphertext
from ..errors import (
    AccessDeniedException,
    ExpiredTokenException,
    InvalidCiphertextException,
    InvalidSignatureException,
    KmsError,
    NotFoundException,
    UnrecognizedClientException,
)
from ..store import ALIAS_ARN, KEY_ARN, KeyStore
from . import errors, sigv4
from .model import IAM, Caller

_AS_KMS_ERROR: dict[type[errors.IamError], type[KmsError]] = {
    errors.AccessDenied: AccessDeniedException,
    errors.UnrecognizedClient: UnrecognizedClientException,
    errors.ExpiredToken: ExpiredTokenException,
    errors.SignatureMismatch: InvalidSignatureException,
}


def kms_error(error: errors.IamError) -> KmsError:
    """The KMS wire error (``{"__type": ...}``) for an IAM failure."""
    return _AS_KMS_ERROR.get(type(error), KmsError)(error.message)


def access_key_of(headers: Mapping[str, str]) -> str | None:
    claims = sigv4.signed_by(headers)
    return claims.access_key_id if claims is not None else None


def authenticate(*, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Caller:
    """The caller of a KMS request: a known access key, its session token, a matching signature."""
    claims = sigv4.signed_by(headers)
    try:
        if claims is None:
            raise errors.UnrecognizedClient("The security token included in the request is invalid.")
        caller = IAM.authenticate(claims.access_key_id, headers.get("X-Amz-Security-Token"))
        sigv4.check(
            claims,
            method=method,
            path=path,
            headers=headers,
            body=body,
            secret_access_key=caller.credentials.secret_access_key,
            session_token=caller.credentials.session_token,
        )
    except errors.IamError as exc:
        raise kms_error(exc) from None
    return caller


def _key_arn(backend: KeyStore, key_id: str) -> str:
    """The ARN a key operation is authorized on: the resolved key's, else the one the request names."""
    try:
        return str(backend.resolve(key_id).arn)
    except NotFoundException:
        pass
    if KEY_ARN.match(key_id):
        return key_id
    if ALIAS_ARN.match(key_id):
        return key_id
    if key_id.startswith("alias/"):
        return backend.alias_arn(key_id)
    return backend.key_arn(key_id)


def _ciphertext_key(backend: KeyStore, params: Mapping[str, Any]) -> str:
    try:
        key_id, _ = ciphertext.header(base64.b64decode(params.get("CiphertextBlob") or b""))
    except (InvalidCiphertextException, binascii.Error, ValueError):
        return "*"
    return _key_arn(backend, key_id)


def requirements(action: str, params: Mapping[str, Any], backend: KeyStore) -> list[tuple[str, str]]:
    """``(IAM action, resource ARN)`` pairs a request needs, every one allowed (module doc)."""
    iam_action = f"kms:{action}"
    if action in ("CreateAlias", "UpdateAlias"):
        alias = str(params.get("AliasName", ""))
        return [
            (iam_action, backend.alias_arn(alias)),
            (iam_action, _key_arn(backend, str(params.get("TargetKeyId", "")))),
        ]
    if action == "DeleteAlias":
        alias = str(params.get("AliasName", ""))
        pairs = [(iam_action, backend.alias_arn(alias))]
        target = backend.get_key_id_from_alias(alias)
        return pairs + ([(iam_action, backend.key_arn(target))] if target else [])
    if action == "ReEncrypt":
        source = params.get("SourceKeyId")
        from_arn = _key_arn(backend, str(source)) if source else _ciphertext_key(backend, params)
        return [
            ("kms:ReEncryptFrom", from_arn),
            ("kms:ReEncryptTo", _key_arn(backend, str(params.get("DestinationKeyId", "")))),
        ]
    if params.get("KeyId"):
        return [(iam_action, _key_arn(backend, str(params["KeyId"])))]
    if action == "Decrypt":
        return [(iam_action, _ciphertext_key(backend, params))]
    return [(iam_action, "*")]


def authorize(caller: Caller, action: str, params: Mapping[str, Any], backend: KeyStore) -> None:
    """Raise ``AccessDeniedException`` unless the caller's identity policies allow every requirement."""
    context = {"kms:CallerAccount": caller.account_id}
    try:
        for iam_action, resource in requirements(action, params, backend):
            IAM.authorize(caller, iam_action, [resource], context)
    except errors.IamError as exc:
        raise kms_error(exc) from None
