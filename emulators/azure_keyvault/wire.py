"""The Key Vault keys REST API over the model: bytes in, bytes out, no sockets (sans-I/O).

:meth:`KeyVaultApp.handle` takes one :class:`Request` and returns one :class:`Response`, in the
order the service checks things:

1. no ``Authorization: Bearer`` header: 401 with the ``WWW-Authenticate`` challenge, before the
   body is read (the SDK's first request of a host carries no body and no token);
2. ``api-version`` missing or unknown: 400 ``BadParameter``;
3. the route, then the body, then the model; any :class:`~.errors.KeyVaultError` becomes the
   service's error document.

Any non-empty bearer token is accepted (there is no Microsoft Entra ID here). Routes tolerate the
SDK's versionless forms (``/keys/NAME/``, ``/keys/NAME//sign``); ``nextLink`` points back here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import shapes
from .errors import BadParameter, EmulatorGap, KeyVaultError, MethodNotAllowed, NotFound, Unauthorized
from .material import Curve, KeyOperation, KeyType, SignatureAlgorithm
from .models import KeyVault
from .operations import operation_of
from .policy import policy_from_json, policy_to_json
from .records import CreateSpec, Update

API_VERSIONS = frozenset(
    {"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-01-01-preview"}
)
LATEST_API_VERSION = "2025-07-01"
SERVICE_VERSION = "1.9.2830.1"  # what x-ms-keyvault-service-version says; any build string will do
CHALLENGE_RESOURCE = "https://vault.azure.net"
PAGE_SIZE = 25
CRYPTO_OPS = {
    "encrypt": KeyOperation.ENCRYPT,
    "decrypt": KeyOperation.DECRYPT,
    "wrapkey": KeyOperation.WRAP_KEY,
    "unwrapkey": KeyOperation.UNWRAP_KEY,
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    base_url: str  # https://host:port as the client addressed it


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    operation: str = "unknown"


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadParameter("The request body is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise BadParameter("The request body must be a JSON object.")
    return doc


def _enum(cls: Any, value: object, field: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        known = ", ".join(m.value for m in cls)
        raise BadParameter(f"Invalid value {value!r} for '{field}'; expected one of: {known}.") from None


def _int_or_none(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadParameter(f"The parameter '{field}' must be a number.")
    return int(value)


def _ops(value: object) -> tuple[KeyOperation, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadParameter("The parameter 'key_ops' must be a list.")
    return tuple(_enum(KeyOperation, op, "key_ops") for op in value)


def _tags(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadParameter("The parameter 'tags' must map strings to strings.")
    return value


def _kty(value: object) -> KeyType:
    if value in ("oct", "oct-HSM"):
        raise BadParameter(f"The key type {value} is only supported by Managed HSM.")
    if value in ("OKP", "OKP-HSM"):
        raise BadParameter(f"The key type {value} is not supported by this vault.")
    kty: KeyType = _enum(KeyType, value, "kty")
    return kty


def _spec(doc: dict[str, Any], kty: KeyType) -> CreateSpec:
    attrs = doc.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise BadParameter("The parameter 'attributes' must be an object.")
    enabled = attrs.get("enabled", True)
    return CreateSpec(
        kty=kty,
        size=_int_or_none(doc.get("key_size"), "key_size"),
        curve=_enum(Curve, doc["crv"], "crv") if doc.get("crv") is not None else None,
        public_exponent=_int_or_none(doc.get("public_exponent"), "public_exponent"),
        key_ops=_ops(doc.get("key_ops")),
        enabled=True if enabled is None else bool(enabled),
        not_before=_int_or_none(attrs.get("nbf"), "nbf"),
        expires=_int_or_none(attrs.get("exp"), "exp"),
        tags=_tags(doc.get("tags")),
    )


class KeyVaultApp:
    """The HTTP semantics of one vault. :param tenant_id: named in the challenge's authorization URL."""

    def __init__(self, vault: KeyVault, tenant_id: str) -> None:
        self.vault = vault
        self.tenant_id = tenant_id

    def challenge(self) -> str:
        authority = f"https://login.microsoftonline.com/{self.tenant_id}"
        return f'Bearer authorization="{authority}", resource="{CHALLENGE_RESOURCE}"'

    def handle(self, request: Request) -> Response:
        operation = operation_of(request.method, request.path)
        try:
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                raise Unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
            version = request.query.get("api-version")
            if version is None:
                raise BadParameter("The 'api-version' query parameter is missing.")
            if version not in API_VERSIONS:
                raise BadParameter(
                    f"The specified version ({version}) is not recognized. "
                    f"Consider using the latest supported version ({LATEST_API_VERSION})."
                )
            status, doc = self._route(request, operation)
        except KeyVaultError as exc:
            status, doc = exc.status, shapes.error_json(exc)
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("x-ms-keyvault-service-version", SERVICE_VERSION),
        ]
        headers.append(("x-ms-request-id", str(uuid.uuid4())))
        if status == 401:
            headers.append(("WWW-Authenticate", self.challenge()))
        body = b"" if doc is None else json.dumps(doc, separators=(",", ":")).encode()
        return Response(status, body, tuple(headers), operation)

    # -- routing -----------------------------------------------------------------------------------
    def _route(self, req: Request, operation: str) -> tuple[int, dict[str, Any] | None]:
        parts = req.path.split("?", 1)[0].lstrip("/").split("/")
        handler = _HANDLERS.get(operation)
        if handler is None:
            raise NotFound(f"No route for {req.method} {req.path.split('?', 1)[0]}.")
        method, fn = handler
        if req.method != method:
            raise MethodNotAllowed(f"The method {req.method} is not allowed for {operation}.")
        doc = fn(self, req, parts)
        return (204 if doc is None else 200), doc

    def _paged(self, req: Request, items: list[dict[str, Any]], path: str) -> dict[str, Any]:
        raw_size, token = req.query.get("maxresults", ""), req.query.get("$skiptoken", "")
        if raw_size and (not raw_size.isdigit() or not 1 <= int(raw_size) <= PAGE_SIZE):
            raise BadParameter(f"The parameter 'maxresults' must be between 1 and {PAGE_SIZE}.")
        size = int(raw_size) if raw_size else PAGE_SIZE
        start = int(token) if token.isdigit() else 0
        page = items[start : start + size]
        more = start + size < len(items)
        version = req.query["api-version"]
        link = f"{req.base_url}/{path}?api-version={version}&$skiptoken={start + size}&maxresults={size}"
        return {"value": page, "nextLink": link if more else None}

    # one method per operation; parts = path segments
    def create(self, req: Request, parts: list[str]) -> dict[str, Any]:
        doc = _json(req.body)
        return shapes.key_bundle(req.base_url, self.vault.create_key(parts[1], _spec(doc, _kty(doc.get("kty")))))

    def import_key(self, req: Request, parts: list[str]) -> dict[str, Any]:
        doc = _json(req.body)
        jwk = doc.get("key")
        if not isinstance(jwk, dict):
            raise BadParameter("The parameter 'key' is required.")
        kty = _kty(jwk.get("kty"))
        members: dict[str, bytes | str] = {
            k: shapes.from_b64url(v, k)
            for k, v in jwk.items()
            if k in ("n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y")
        }
        if isinstance(jwk.get("crv"), str):
            members["crv"] = jwk["crv"]
        spec = _spec({**doc, "key_ops": jwk.get("key_ops")}, kty)
        return shapes.key_bundle(req.base_url, self.vault.import_key(parts[1], kty, members, spec))

    def rotate(self, req: Request, parts: list[str]) -> dict[str, Any]:
        return shapes.key_bundle(req.base_url, self.vault.rotate_key(parts[1]))

    def get(self, req: Request, parts: list[str]) -> dict[str, Any]:
        return shapes.key_bundle(req.base_url, self.vault.get_key(parts[1], parts[2] if len(parts) > 2 else None))

    def update(self, req: Request, parts: list[str]) -> dict[str, Any]:
        doc = _json(req.body)
        attrs = doc.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise BadParameter("The parameter 'attributes' must be an object.")
        enabled = attrs.get("enabled")
        update = Update(
            key_ops=_ops(doc.get("key_ops")),
            enabled=None if enabled is None else bool(enabled),
            not_before=_int_or_none(attrs.get("nbf"), "nbf"),
            expires=_int_or_none(attrs.get("exp"), "exp"),
            tags=_tags(doc.get("tags")),
        )
        found = self.vault.update_key(parts[1], parts[2] if len(parts) > 2 else None, update)
        return shapes.key_bundle(req.base_url, found)

    def list_keys(self, req: Request, parts: list[str]) -> dict[str, Any]:
        items = [shapes.key_item(req.base_url, v, versioned=False) for v in self.vault.list_keys()]
        return self._paged(req, items, "keys")

    def versions(self, req: Request, parts: list[str]) -> dict[str, Any]:
        items = [shapes.key_item(req.base_url, v, versioned=True) for v in self.vault.list_versions(parts[1])]
        return self._paged(req, items, f"keys/{parts[1]}/versions")

    def delete(self, req: Request, parts: list[str]) -> dict[str, Any]:
        return shapes.deleted_bundle(req.base_url, self.vault.delete_key(parts[1]))

    def get_deleted(self, req: Request, parts: list[str]) -> dict[str, Any]:
        return shapes.deleted_bundle(req.base_url, self.vault.get_deleted_key(parts[1]))

    def list_deleted(self, req: Request, parts: list[str]) -> dict[str, Any]:
        items = [shapes.deleted_item(req.base_url, e) for e in self.vault.list_deleted_keys()]
        return self._paged(req, items, "deletedkeys")

    def purge(self, req: Request, parts: list[str]) -> None:
        self.vault.purge_deleted_key(parts[1])
        return None

    def recover(self, req: Request, parts: list[str]) -> dict[str, Any]:
        return shapes.key_bundle(req.base_url, self.vault.recover_deleted_key(parts[1]))

    def _alg_value(self, req: Request) -> tuple[dict[str, Any], str, bytes]:
        doc = _json(req.body)
        alg = doc.get("alg")
        if not isinstance(alg, str):
            raise BadParameter("The parameter 'alg' is required.")
        return doc, alg, shapes.from_b64url(doc.get("value"), "value")

    def sign(self, req: Request, parts: list[str]) -> dict[str, Any]:
        _, alg, digest = self._alg_value(req)
        found, signature = self.vault.sign(parts[1], parts[2], _enum(SignatureAlgorithm, alg, "alg"), digest)
        return {"kid": shapes.key_id(req.base_url, found.name, found.version), "value": shapes.b64url(signature)}

    def verify(self, req: Request, parts: list[str]) -> dict[str, Any]:
        doc, alg, signature = self._alg_value(req)
        digest = shapes.from_b64url(doc.get("digest"), "digest")
        valid = self.vault.verify(parts[1], parts[2], _enum(SignatureAlgorithm, alg, "alg"), digest, signature)
        return {"value": valid}

    def crypto(self, req: Request, parts: list[str]) -> dict[str, Any]:
        _, alg, value = self._alg_value(req)
        found, result = self.vault.cipher(parts[1], parts[2], CRYPTO_OPS[parts[3].lower()], alg, value)
        return {"kid": shapes.key_id(req.base_url, found.name, found.version), "value": shapes.b64url(result)}

    def backup(self, req: Request, parts: list[str]) -> dict[str, Any]:
        blob = shapes.backup_blob(self.vault.backup_entry(parts[1]), self.vault.backup_secret)
        return {"value": shapes.b64url(blob)}

    def restore(self, req: Request, parts: list[str]) -> dict[str, Any]:
        blob = shapes.from_b64url(_json(req.body).get("value"), "value")
        entry = shapes.restore_blob(blob, self.vault.backup_secret)
        return shapes.key_bundle(req.base_url, self.vault.restore_entry(entry))

    def get_policy(self, req: Request, parts: list[str]) -> dict[str, Any]:
        policy = self.vault.get_rotation_policy(parts[1])
        return policy_to_json(policy, f"{req.base_url}/keys/{parts[1]}/rotationpolicy")

    def put_policy(self, req: Request, parts: list[str]) -> dict[str, Any]:
        doc = _json(req.body)
        policy = self.vault.set_rotation_policy(parts[1], lambda now, old: policy_from_json(doc, now, old))
        return policy_to_json(policy, f"{req.base_url}/keys/{parts[1]}/rotationpolicy")

    def rng(self, req: Request, parts: list[str]) -> dict[str, Any]:
        count = _int_or_none(_json(req.body).get("count"), "count")
        return {"value": shapes.b64url(self.vault.random_bytes(count or 0))}

    def gap(self, req: Request, parts: list[str]) -> None:
        raise EmulatorGap(f"{req.method} {req.path.split('?', 1)[0]} is not emulated (key release, attestation).")


_Handler = Callable[[KeyVaultApp, Request, list[str]], "dict[str, Any] | None"]
_HANDLERS: dict[str, tuple[str, _Handler]] = {
    "keys/create": ("POST", KeyVaultApp.create),
    "keys/import": ("PUT", KeyVaultApp.import_key),
    "keys/rotate": ("POST", KeyVaultApp.rotate),
    "keys/get": ("GET", KeyVaultApp.get),
    "keys/update": ("PATCH", KeyVaultApp.update),
    "keys/list": ("GET", KeyVaultApp.list_keys),
    "keys/versions": ("GET", KeyVaultApp.versions),
    "keys/delete": ("DELETE", KeyVaultApp.delete),
    "keys/sign": ("POST", KeyVaultApp.sign),
    "keys/verify": ("POST", KeyVaultApp.verify),
    **{f"keys/{op}": ("POST", KeyVaultApp.crypto) for op in CRYPTO_OPS},
    "keys/backup": ("POST", KeyVaultApp.backup),
    "keys/restore": ("POST", KeyVaultApp.restore),
    "keys/release": ("POST", KeyVaultApp.gap),
    "keys/attestation": ("GET", KeyVaultApp.gap),
    "keys/rotationpolicy/get": ("GET", KeyVaultApp.get_policy),
    "keys/rotationpolicy/update": ("PUT", KeyVaultApp.put_policy),
    "deletedkeys/list": ("GET", KeyVaultApp.list_deleted),
    "deletedkeys/get": ("GET", KeyVaultApp.get_deleted),
    "deletedkeys/purge": ("DELETE", KeyVaultApp.purge),
    "deletedkeys/recover": ("POST", KeyVaultApp.recover),
    "rng": ("POST", KeyVaultApp.rng),
}
