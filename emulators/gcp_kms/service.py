"""The RPC layer shared by both fronts: method name -> request/response classes and handler.

Each handler checks the request's required fields (as the service does, INVALID_ARGUMENT) and
calls the model; it never sees sockets. :class:`KmsService` also applies the fault plan
(:mod:`.faults`) so faults reach gRPC and REST clients alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.cloud import kms_v1 as k

from . import listing, names, operations
from .errors import invalid
from .faults import FaultHook
from .models import KmsModel

SERVICE = "google.cloud.kms.v1.KeyManagementService"
Handler = Callable[[KmsModel, Any], Any]


@dataclass(frozen=True)
class Rpc:
    name: str
    request: type[Any]
    response: type[Any]
    handler: Handler


def _required(req: Any, *fields: str) -> None:
    for field in fields:
        if not getattr(req, field):
            raise invalid(f"The field {field} is required.")


def _create_key_ring(model: KmsModel, req: k.CreateKeyRingRequest) -> k.KeyRing:
    _required(req, "parent", "key_ring_id")
    return model.create_key_ring(req.parent, req.key_ring_id)


def _list_key_rings(model: KmsModel, req: k.ListKeyRingsRequest) -> k.ListKeyRingsResponse:
    items = listing.apply_order(listing.apply_filter(model.list_key_rings(req.parent), req.filter), req.order_by)
    chunk, token = listing.page(items, req.page_size, req.page_token)
    return k.ListKeyRingsResponse(key_rings=chunk, next_page_token=token, total_size=len(items))


def _create_crypto_key(model: KmsModel, req: k.CreateCryptoKeyRequest) -> k.CryptoKey:
    _required(req, "parent", "crypto_key_id")
    return model.create_crypto_key(
        req.parent, req.crypto_key_id, req.crypto_key, skip_initial=req.skip_initial_version_creation
    )


def _list_crypto_keys(model: KmsModel, req: k.ListCryptoKeysRequest) -> k.ListCryptoKeysResponse:
    items = listing.apply_order(listing.apply_filter(model.list_crypto_keys(req.parent), req.filter), req.order_by)
    chunk, token = listing.page(items, req.page_size, req.page_token)
    return k.ListCryptoKeysResponse(crypto_keys=chunk, next_page_token=token, total_size=len(items))


def _update_crypto_key(model: KmsModel, req: k.UpdateCryptoKeyRequest) -> k.CryptoKey:
    _required(req, "crypto_key")
    names.crypto_key(req.crypto_key.name)
    return model.update_crypto_key(req.crypto_key, list(req.update_mask.paths))


def _update_primary(model: KmsModel, req: k.UpdateCryptoKeyPrimaryVersionRequest) -> k.CryptoKey:
    _required(req, "name", "crypto_key_version_id")
    return model.update_primary_version(req.name, req.crypto_key_version_id)


def _create_version(model: KmsModel, req: k.CreateCryptoKeyVersionRequest) -> k.CryptoKeyVersion:
    _required(req, "parent")
    given = req.crypto_key_version
    raw = k.CryptoKeyVersion.pb(given)
    if raw.algorithm or raw.state or raw.protection_level:
        raise invalid("CryptoKeyVersion fields are taken from the key's version_template; leave them unset.")
    return model.create_version(req.parent)


def _list_versions(model: KmsModel, req: k.ListCryptoKeyVersionsRequest) -> k.ListCryptoKeyVersionsResponse:
    items = listing.apply_order(listing.apply_filter(model.list_versions(req.parent), req.filter), req.order_by)
    chunk, token = listing.page(items, req.page_size, req.page_token)
    return k.ListCryptoKeyVersionsResponse(crypto_key_versions=chunk, next_page_token=token, total_size=len(items))


def _update_version(model: KmsModel, req: k.UpdateCryptoKeyVersionRequest) -> k.CryptoKeyVersion:
    _required(req, "crypto_key_version")
    paths = list(req.update_mask.paths)
    if not paths:
        raise invalid("The update_mask must name at least one field.")
    if paths != ["state"]:
        raise invalid(f"Unsupported update_mask path(s): {', '.join(p for p in paths if p != 'state')}.")
    return model.update_version_state(req.crypto_key_version.name, k.CryptoKeyVersion.pb(req.crypto_key_version).state)


def _table() -> dict[str, Rpc]:
    entries: list[tuple[str, type[Any], type[Any], Handler]] = [
        ("CreateKeyRing", k.CreateKeyRingRequest, k.KeyRing, _create_key_ring),
        ("GetKeyRing", k.GetKeyRingRequest, k.KeyRing, lambda m, r: m.get_key_ring(r.name)),
        ("ListKeyRings", k.ListKeyRingsRequest, k.ListKeyRingsResponse, _list_key_rings),
        ("CreateCryptoKey", k.CreateCryptoKeyRequest, k.CryptoKey, _create_crypto_key),
        ("GetCryptoKey", k.GetCryptoKeyRequest, k.CryptoKey, lambda m, r: m.get_crypto_key(r.name)),
        ("ListCryptoKeys", k.ListCryptoKeysRequest, k.ListCryptoKeysResponse, _list_crypto_keys),
        ("UpdateCryptoKey", k.UpdateCryptoKeyRequest, k.CryptoKey, _update_crypto_key),
        ("UpdateCryptoKeyPrimaryVersion", k.UpdateCryptoKeyPrimaryVersionRequest, k.CryptoKey, _update_primary),
        ("CreateCryptoKeyVersion", k.CreateCryptoKeyVersionRequest, k.CryptoKeyVersion, _create_version),
        ("GetCryptoKeyVersion", k.GetCryptoKeyVersionRequest, k.CryptoKeyVersion, lambda m, r: m.get_version(r.name)),
        ("ListCryptoKeyVersions", k.ListCryptoKeyVersionsRequest, k.ListCryptoKeyVersionsResponse, _list_versions),
        ("UpdateCryptoKeyVersion", k.UpdateCryptoKeyVersionRequest, k.CryptoKeyVersion, _update_version),
        (
            "DestroyCryptoKeyVersion",
            k.DestroyCryptoKeyVersionRequest,
            k.CryptoKeyVersion,
            lambda m, r: m.destroy_version(r.name),
        ),
        (
            "RestoreCryptoKeyVersion",
            k.RestoreCryptoKeyVersionRequest,
            k.CryptoKeyVersion,
            lambda m, r: m.restore_version(r.name),
        ),
        ("GetPublicKey", k.GetPublicKeyRequest, k.PublicKey, operations.public_key),
        ("AsymmetricSign", k.AsymmetricSignRequest, k.AsymmetricSignResponse, operations.asymmetric_sign),
        ("AsymmetricDecrypt", k.AsymmetricDecryptRequest, k.AsymmetricDecryptResponse, operations.asymmetric_decrypt),
        ("MacSign", k.MacSignRequest, k.MacSignResponse, operations.mac_sign),
        ("MacVerify", k.MacVerifyRequest, k.MacVerifyResponse, operations.mac_verify),
        ("Encrypt", k.EncryptRequest, k.EncryptResponse, operations.encrypt),
        ("Decrypt", k.DecryptRequest, k.DecryptResponse, operations.decrypt),
        (
            "GenerateRandomBytes",
            k.GenerateRandomBytesRequest,
            k.GenerateRandomBytesResponse,
            operations.generate_random_bytes,
        ),
    ]
    return {name: Rpc(name, req, resp, fn) for name, req, resp, fn in entries}


RPCS: dict[str, Rpc] = _table()


class KmsService:
    """The model behind the RPC table, with an optional fault hook.

    :param model: the state.
    :param faults: applied to every call before (and, for ``phase: response``, after) the model.
    """

    def __init__(self, model: KmsModel, faults: FaultHook | None = None) -> None:
        self.model = model
        self.faults = faults if faults is not None else FaultHook()

    def call(self, method: str, request: Any) -> Any:
        """Run RPC ``method`` (its gRPC name); raises :class:`~.errors.KmsApiError` or :class:`~.faults.Drop`."""
        rpc = RPCS[method]
        return self.faults.around(method, lambda: rpc.handler(self.model, request))
