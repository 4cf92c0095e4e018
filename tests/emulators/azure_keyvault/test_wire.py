"""The REST layer without sockets: the 401 challenge comes before anything else, api-version,
routes (the SDK's trailing-slash and double-slash forms), error documents, paging, status codes."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from pytest_kmsconform.emulators.azure_keyvault.material import MaterialSource
from pytest_kmsconform.emulators.azure_keyvault.models import KeyVault
from pytest_kmsconform.emulators.azure_keyvault.wire import KeyVaultApp, Request, Response, operation_of

BASE = "https://127.0.0.1:8443"
TENANT = "00000000-0000-0000-0000-0000000000aa"
AUTH = {"authorization": "Bearer anything"}


@pytest.fixture
def app() -> KeyVaultApp:
    return KeyVaultApp(KeyVault(MaterialSource()), TENANT)


def call(
    app: KeyVaultApp,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> Response:
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    q = {"api-version": "7.5"} if query is None else query
    return app.handle(Request(method, path, q, AUTH if headers is None else headers, raw, BASE))


def doc(response: Response) -> Any:
    return json.loads(response.body)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_no_token_gets_the_challenge_before_the_body_is_read(app: KeyVaultApp) -> None:
    response = call(app, "POST", "/keys/k/create", b"{not json", headers={})
    assert response.status == 401
    challenge = dict(response.headers)["WWW-Authenticate"]
    assert challenge == (
        f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="https://vault.azure.net"'
    )
    assert doc(response)["error"]["code"] == "Unauthorized"
    assert call(app, "GET", "/no/such/route", headers={"authorization": "Bearer "}).status == 401


def test_api_version_is_required_and_checked(app: KeyVaultApp) -> None:
    missing = call(app, "GET", "/keys", query={})
    unknown = call(app, "GET", "/keys", query={"api-version": "9.9"})
    assert (missing.status, unknown.status) == (400, 400)
    assert doc(unknown)["error"]["code"] == "BadParameter"
    assert "(9.9) is not recognized" in doc(unknown)["error"]["message"]
    assert call(app, "GET", "/keys", query={"api-version": "2025-07-01"}).status == 200


def test_create_get_sign_verify_and_the_sdk_path_forms(app: KeyVaultApp) -> None:
    created = doc(call(app, "POST", "/keys/k/create", {"kty": "EC", "crv": "P-256"}))
    kid = created["key"]["kid"]
    assert kid.startswith(f"{BASE}/keys/k/") and len(kid.rsplit("/", 1)[1]) == 32
    assert set(created["key"]) == {"kid", "kty", "key_ops", "crv", "x", "y"}
    assert created["attributes"]["recoveryLevel"] == "Recoverable+Purgeable"
    assert doc(call(app, "GET", "/keys/k/"))["key"]["kid"] == kid  # versionless GET: trailing slash
    digest = hashlib.sha256(b"m").digest()
    signed = doc(call(app, "POST", "/keys/k//sign", {"alg": "ES256", "value": b64u(digest)}))  # versionless op
    assert signed["kid"] == kid and len(base64.urlsafe_b64decode(signed["value"] + "==")) == 64
    verified = call(
        app,
        "POST",
        kid.removeprefix(BASE) + "/verify",
        {"alg": "ES256", "digest": b64u(digest), "value": signed["value"]},
    )
    assert doc(verified) == {"value": True}
    bad = {"alg": "ES256", "digest": b64u(digest[::-1]), "value": signed["value"]}
    assert doc(call(app, "POST", kid.removeprefix(BASE) + "/verify", bad)) == {"value": False}


def test_error_documents_carry_status_code_and_inner_code(app: KeyVaultApp) -> None:
    version = doc(call(app, "POST", "/keys/k/create", {"kty": "EC"}))["key"]["kid"].rsplit("/", 1)[1]
    call(app, "PATCH", f"/keys/k/{version}", {"attributes": {"enabled": False}})
    refused = call(app, "POST", f"/keys/k/{version}/sign", {"alg": "ES256", "value": b64u(bytes(32))})
    assert refused.status == 403
    assert doc(refused) == {
        "error": {
            "code": "Forbidden",
            "message": "Operation sign is not allowed on a disabled key.",
            "innerError": {"code": "KeyDisabled"},
        }
    }
    missing = call(app, "GET", "/keys/nope/")
    assert missing.status == 404 and doc(missing)["error"]["code"] == "KeyNotFound"
    assert call(app, "POST", "/keys/k/create", {"kty": "OKP", "crv": "Ed25519"}).status == 400
    assert call(app, "POST", "/keys/k/create", {"kty": "oct"}).status == 400
    assert call(app, "POST", "/keys/k/create", b"[1]").status == 400
    assert call(app, "GET", "/secrets/s").status == 404
    assert call(app, "GET", "/keys/k/create").status == 405


def test_soft_delete_routes_and_purge_is_204(app: KeyVaultApp) -> None:
    call(app, "POST", "/keys/k/create", {"kty": "EC"})
    deleted = doc(call(app, "DELETE", "/keys/k"))
    assert deleted["recoveryId"] == f"{BASE}/deletedkeys/k"
    assert deleted["scheduledPurgeDate"] - deleted["deletedDate"] == 90 * 86400
    conflict = call(app, "POST", "/keys/k/create", {"kty": "EC"})
    assert conflict.status == 409
    assert doc(conflict)["error"]["innerError"]["code"] == "ObjectIsDeletedButRecoverable"
    assert call(app, "GET", "/deletedkeys/k").status == 200
    assert [i["kid"] for i in doc(call(app, "GET", "/deletedkeys"))["value"]] == [f"{BASE}/keys/k"]
    purged = call(app, "DELETE", "/deletedkeys/k")
    assert (purged.status, purged.body) == (204, b"")
    assert call(app, "GET", "/deletedkeys/k").status == 404


def test_lists_page_with_a_next_link_back_here(app: KeyVaultApp) -> None:
    for i in range(3):
        call(app, "POST", f"/keys/k{i}/create", {"kty": "EC"})
    first = doc(call(app, "GET", "/keys", query={"api-version": "7.5", "maxresults": "2"}))
    assert [i["kid"] for i in first["value"]] == [f"{BASE}/keys/k0", f"{BASE}/keys/k1"]
    link = first["nextLink"]
    assert link.startswith(f"{BASE}/keys?api-version=7.5&$skiptoken=2")
    query = dict(p.split("=", 1) for p in link.split("?", 1)[1].split("&"))
    second = doc(call(app, "GET", "/keys", query=query))
    assert [i["kid"] for i in second["value"]] == [f"{BASE}/keys/k2"] and second["nextLink"] is None
    assert call(app, "GET", "/keys", query={"api-version": "7.5", "maxresults": "26"}).status == 400


def test_rotation_policy_round_trip(app: KeyVaultApp) -> None:
    call(app, "POST", "/keys/k/create", {"kty": "EC"})
    policy = {
        "lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "rotate"}}],
        "attributes": {"expiryTime": "P90D"},
    }
    stored = doc(call(app, "PUT", "/keys/k/rotationpolicy", policy))
    assert stored["id"] == f"{BASE}/keys/k/rotationpolicy"
    assert stored["lifetimeActions"] == [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}]
    assert stored["attributes"]["expiryTime"] == "P90D"
    assert doc(call(app, "GET", "/keys/k/rotationpolicy"))["lifetimeActions"] == stored["lifetimeActions"]
    rotated = doc(call(app, "POST", "/keys/k/rotate"))
    assert rotated["attributes"]["exp"] - rotated["attributes"]["created"] == 90 * 86400


def test_backup_restore_refuses_altered_blobs(app: KeyVaultApp) -> None:
    call(app, "POST", "/keys/k/create", {"kty": "EC"})
    blob = doc(call(app, "POST", "/keys/k/backup"))["value"]
    assert call(app, "POST", "/keys/restore", {"value": blob}).status == 409  # name still taken
    call(app, "DELETE", "/keys/k")
    call(app, "DELETE", "/deletedkeys/k")
    raw = bytearray(base64.urlsafe_b64decode(blob + "=="))
    raw[-2] ^= 1
    assert call(app, "POST", "/keys/restore", {"value": b64u(bytes(raw))}).status == 400
    assert call(app, "POST", "/keys/restore", {"value": blob}).status == 200


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/keys/k/create", "keys/create"),
        ("PUT", "/keys/k", "keys/import"),
        ("GET", "/keys/k/", "keys/get"),
        ("GET", "/keys/k/0123", "keys/get"),
        ("PATCH", "/keys/k/0123", "keys/update"),
        ("DELETE", "/keys/k", "keys/delete"),
        ("GET", "/keys", "keys/list"),
        ("GET", "/keys/k/versions", "keys/versions"),
        ("POST", "/keys/k/0123/sign", "keys/sign"),
        ("POST", "/keys/k//sign", "keys/sign"),
        ("POST", "/keys/k/0123/verify", "keys/verify"),
        ("POST", "/keys/k/rotate", "keys/rotate"),
        ("GET", "/keys/k/rotationpolicy", "keys/rotationpolicy/get"),
        ("PUT", "/keys/k/rotationpolicy", "keys/rotationpolicy/update"),
        ("POST", "/keys/restore", "keys/restore"),
        ("GET", "/deletedkeys", "deletedkeys/list"),
        ("DELETE", "/deletedkeys/k", "deletedkeys/purge"),
        ("POST", "/deletedkeys/k/recover", "deletedkeys/recover"),
        ("POST", "/rng", "rng"),
    ],
)
def test_operation_names(method: str, path: str, operation: str) -> None:
    assert operation_of(method, path) == operation
