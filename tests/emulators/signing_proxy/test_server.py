"""The proxy over loopback HTTP: every bad input gets a 4xx with its code (never a 500), auth, admin, /keys."""

from __future__ import annotations

import http.client as httplib
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest_kmsconform.emulators.signing_proxy.provider import RunningProxy, run_proxy
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key
from pytest_kmsconform.reference_impl.jws import verify_compact, verify_pinned
from pytest_kmsconform.reference_impl.primitives import verify_digest
from pytest_kmsconform.reference_impl.signature import b64url_decode, b64url_encode

DIGEST = "5a" * 32
API_KEY = "test-api-key-0123456789"  # as in conftest.py
ADMIN_KEY = "test-admin-key-9876543210"


def sign(http: Any, digest: str = DIGEST) -> dict[str, Any]:
    reply = http.send("POST", "/sign/hash", {"digest_hex": digest})
    assert reply.status == 200, reply.body
    result: dict[str, Any] = reply.json
    return result


def test_health(http: Any) -> None:
    reply = http.send("GET", "/health", api_key=None)
    assert reply.status == 200
    assert reply.json == {
        "status": "ok",
        "backend": "local",
        "alg": "ed25519",
        "kid": "signing-proxy-v1",
        "admin": True,
    }
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["cache-control"] == "no-store"


def test_sign_hash_verifies_under_the_published_key(http: Any) -> None:
    result = sign(http)
    assert set(result) == {"kid", "alg", "signature"}
    keys = http.send("GET", "/keys", api_key=None).json["jwks"]["keys"]
    [jwk] = [k for k in keys if k["kid"] == result["kid"]]
    verify_digest(
        Algorithm(result["alg"]), jwk_to_public_key(jwk), bytes.fromhex(DIGEST), b64url_decode(result["signature"])
    )


def test_sign_canonical_with_and_without_prev_hash(http: Any) -> None:
    canonical = canonicalize_payload({"action": "approve", "id": 7}).decode()
    for prev in (None, "c3" * 32):
        body: dict[str, Any] = {"canonical": canonical}
        if prev is not None:
            body["prev_hash"] = prev
        reply = http.send("POST", "/sign/canonical", body)
        assert reply.status == 200, reply.body
        assert reply.json["digest_hex"] == audit_digest(canonical.encode(), prev).hex()
        check = http.send("POST", "/verify", {"digest_hex": reply.json["digest_hex"], "signature": reply.json})
        assert check.status == 400  # the sign response carries digest_hex: not a signature object
        sig = {k: reply.json[k] for k in ("kid", "alg", "signature")}
        assert http.send("POST", "/verify", {"digest_hex": reply.json["digest_hex"], "signature": sig}).json == {
            "valid": True
        }


def test_verify_forms_and_outcomes(http: Any) -> None:
    result = sign(http)
    ok = [
        {"digest_hex": DIGEST, "signature": result},
        {"digest_hex": DIGEST, "signature": {"kid": result["kid"], "alg": result["alg"], "sig": result["signature"]}},
        {"digest_hex": DIGEST, "signature": result["signature"]},
        {"digest_hex": DIGEST, "signature": result["signature"], "kid": result["kid"], "alg": "ed25519"},
    ]
    for body in ok:
        assert http.send("POST", "/verify", body).json == {"valid": True}
    flipped = bytearray(b64url_decode(result["signature"]))
    flipped[0] ^= 1
    bad = http.send("POST", "/verify", {"digest_hex": DIGEST, "signature": b64url_encode(bytes(flipped))})
    assert (bad.status, bad.json) == (200, {"valid": False, "reason": "BAD_SIGNATURE"})
    other = http.send("POST", "/verify", {"digest_hex": "00" * 32, "signature": result})
    assert other.json == {"valid": False, "reason": "BAD_SIGNATURE"}
    unknown = http.send("POST", "/verify", {"digest_hex": DIGEST, "signature": {**result, "kid": "ghost"}})
    assert unknown.json == {"valid": False, "reason": "UNKNOWN_KEY"}
    mismatch = http.send("POST", "/verify", {"digest_hex": DIGEST, "signature": {**result, "alg": "rsa-sha256"}})
    assert mismatch.json["valid"] is False


LONG = "a" * 70000
BAD_REQUESTS: list[tuple[str, str, Any, dict[str, str], str | None, int, str]] = [
    # (id, path, body, headers, content type, status, code)
    ("not-json", "/sign/hash", b"digest_hex=00", {}, "application/json", 400, "BAD_JSON"),
    ("not-utf8", "/sign/hash", b'{"digest_hex":"\xff"}', {}, "application/json", 400, "BAD_JSON"),
    ("array", "/sign/hash", b"[]", {}, "application/json", 400, "BAD_JSON"),
    ("empty-body", "/sign/hash", b"", {}, "application/json", 400, "BAD_JSON"),
    ("nan", "/sign/hash", b'{"digest_hex": NaN}', {}, "application/json", 400, "BAD_JSON"),
    ("deep", "/sign/hash", b"[" * 5000 + b"]" * 5000, {}, "application/json", 400, "BAD_JSON"),
    ("duplicate", "/sign/hash", b'{"digest_hex":"a","digest_hex":"b"}', {}, "application/json", 400, "BAD_JSON"),
    ("missing", "/sign/hash", b"{}", {}, "application/json", 400, "MISSING_FIELD"),
    ("null", "/sign/hash", b'{"digest_hex":null}', {}, "application/json", 400, "MISSING_FIELD"),
    ("unknown-field", "/sign/hash", {"digest_hex": DIGEST, "x": 1}, {}, "application/json", 400, "UNKNOWN_FIELD"),
    ("bad-hex", "/sign/hash", {"digest_hex": "zz" * 32}, {}, "application/json", 400, "BAD_DIGEST"),
    ("upper-hex", "/sign/hash", {"digest_hex": DIGEST.upper()}, {}, "application/json", 400, "BAD_DIGEST"),
    ("number", "/sign/hash", {"digest_hex": 5}, {}, "application/json", 400, "BAD_DIGEST"),
    ("short", "/sign/hash", {"digest_hex": "ab" * 16}, {}, "application/json", 400, "WRONG_DIGEST_LENGTH"),
    ("sha512", "/sign/hash", {"digest_hex": "ab" * 64}, {}, "application/json", 400, "WRONG_DIGEST_LENGTH"),
    ("odd", "/sign/hash", {"digest_hex": "a" * 63}, {}, "application/json", 400, "WRONG_DIGEST_LENGTH"),
    ("too-large", "/sign/hash", {"digest_hex": LONG}, {}, "application/json", 413, "BODY_TOO_LARGE"),
    ("text-plain", "/sign/hash", {"digest_hex": DIGEST}, {}, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("no-type", "/sign/hash", {"digest_hex": DIGEST}, {}, None, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("form", "/sign/hash", b"digest_hex=00", {}, "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
    (
        "latin1",
        "/sign/hash",
        {"digest_hex": DIGEST},
        {},
        "application/json; charset=latin-1",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    ("canon-object", "/sign/canonical", {"canonical": {"a": 1}}, {}, "application/json", 400, "BAD_FIELD"),
    ("canon-spaces", "/sign/canonical", {"canonical": '{"a": 1}'}, {}, "application/json", 400, "NOT_CANONICAL"),
    ("canon-order", "/sign/canonical", {"canonical": '{"b":1,"a":2}'}, {}, "application/json", 400, "NOT_CANONICAL"),
    ("canon-invalid", "/sign/canonical", {"canonical": "{"}, {}, "application/json", 400, "NOT_CANONICAL"),
    ("canon-surrogate", "/sign/canonical", b'{"canonical":"\\ud800"}', {}, "application/json", 400, "NOT_CANONICAL"),
    (
        "prev-short",
        "/sign/canonical",
        {"canonical": "{}", "prev_hash": "ab"},
        {},
        "application/json",
        400,
        "BAD_PREV_HASH",
    ),
    ("prev-type", "/sign/canonical", {"canonical": "{}", "prev_hash": 1}, {}, "application/json", 400, "BAD_PREV_HASH"),
    ("verify-no-sig", "/verify", {"digest_hex": DIGEST}, {}, "application/json", 400, "MISSING_FIELD"),
    (
        "verify-bad-b64",
        "/verify",
        {"digest_hex": DIGEST, "signature": "@@"},
        {},
        "application/json",
        400,
        "BAD_SIGNATURE",
    ),
    (
        "verify-bad-alg",
        "/verify",
        {"digest_hex": DIGEST, "signature": {"kid": "k", "alg": "x", "sig": "AA"}},
        {},
        "application/json",
        400,
        "BAD_SIGNATURE",
    ),
    ("verify-list", "/verify", {"digest_hex": DIGEST, "signature": []}, {}, "application/json", 400, "BAD_SIGNATURE"),
    ("verify-bad-digest", "/verify", {"digest_hex": "x", "signature": "AA"}, {}, "application/json", 400, "BAD_DIGEST"),
    (
        "request-id-type",
        "/sign/hash",
        {"digest_hex": DIGEST, "request_id": 3},
        {},
        "application/json",
        400,
        "BAD_FIELD",
    ),
    (
        "request-id-header",
        "/sign/hash",
        {"digest_hex": DIGEST},
        {"X-Request-Id": "a b"},
        "application/json",
        400,
        "BAD_REQUEST",
    ),
    ("chunked", "/sign/hash", None, {"Transfer-Encoding": "chunked"}, "application/json", 411, "LENGTH_REQUIRED"),
    ("bad-length", "/sign/hash", None, {"Content-Length": "abc"}, "application/json", 400, "BAD_REQUEST"),
    ("no-length", "/sign/hash", None, {}, "application/json", 411, "LENGTH_REQUIRED"),
    ("not-found", "/sign/hashes", {"digest_hex": DIGEST}, {}, "application/json", 404, "NOT_FOUND"),
    ("admin-with-api-key", "/admin/rotate", {}, {}, "application/json", 401, "UNAUTHORIZED"),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "content_type", "status", "code"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_input_gets_a_4xx_with_its_code(
    http: Any, path: str, body: Any, headers: dict[str, str], content_type: str | None, status: int, code: str
) -> None:
    if body is None and "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        reply = http.send_raw(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
            f"Content-Type: {content_type}\r\n\r\n".encode(),
        )
    elif "Transfer-Encoding" in headers:
        reply = http.send_raw(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".encode(),
        )
    elif body is None:
        reply = http.send_raw(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {headers['Content-Length']}\r\n\r\n".encode(),
        )
    else:
        reply = http.send("POST", path, body, headers, content_type=content_type)
    assert (reply.status, reply.code) == (status, code), reply.body
    assert isinstance(reply.json["error"]["message"], str) and reply.json["error"]["message"]
    assert reply.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"GARBAGE\r\n\r\n", 400, "BAD_REQUEST"),
        (b"GET /health HTTP/9.9\r\n\r\n", 400, "BAD_REQUEST"),
        (b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "METHOD_NOT_ALLOWED"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414, "URI_TOO_LONG"),
        (b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 120 + b"\r\n", 431, "HEADERS_TOO_LARGE"),
    ],
    ids=["garbage", "http-9", "unknown-method", "long-uri", "many-headers"],
)
def test_malformed_http_gets_json_errors(http: Any, raw: bytes, status: int, code: str) -> None:
    reply = http.send_raw(raw)
    assert (reply.status, reply.code) == (status, code)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/sign/hash"), ("PUT", "/verify"), ("DELETE", "/keys"), ("POST", "/health")]
)
def test_wrong_method_is_405_with_allow(http: Any, method: str, path: str) -> None:
    reply = http.send(method, path, api_key=None)
    assert (reply.status, reply.code) == (405, "METHOD_NOT_ALLOWED")
    assert reply.headers["allow"] in ("GET", "POST")


def test_get_with_a_body_is_refused(http: Any) -> None:
    reply = http.send("GET", "/health", b"{}", api_key=None)
    assert (reply.status, reply.code) == (400, "BAD_REQUEST")


# -- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": f"Bearer {API_KEY}x"},
        {"Authorization": f"Bearer {API_KEY[:-1]}"},
        {"X-API-Key": "wrong"},
        {"X-API-Key": API_KEY, "Authorization": "Bearer other"},
        {"Authorization": f"Bearer {ADMIN_KEY}"},
    ],
    ids=["none", "wrong-bearer", "basic", "longer", "prefix", "wrong-x-api-key", "conflicting", "admin-key"],
)
@pytest.mark.parametrize("path", ["/sign/hash", "/sign/canonical", "/verify"])
def test_signing_needs_the_api_key(http: Any, headers: dict[str, str], path: str) -> None:
    reply = http.send("POST", path, {"digest_hex": DIGEST}, headers, api_key=None)
    assert (reply.status, reply.code) == (401, "UNAUTHORIZED")
    assert reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": API_KEY},
        {"Authorization": f"Bearer {API_KEY}"},
        {"X-API-Key": API_KEY, "Authorization": f"bearer {API_KEY}"},
    ],
)
def test_api_key_header_forms(http: Any, headers: dict[str, str]) -> None:
    assert http.send("POST", "/sign/hash", {"digest_hex": DIGEST}, headers, api_key=None).status == 200


def test_health_and_keys_are_public(http: Any) -> None:
    assert http.send("GET", "/health", api_key=None).status == 200
    assert http.send("GET", "/keys", api_key=None).status == 200


def test_keep_alive_survives_an_error(http: Any) -> None:
    parts = urlsplit(http.url)
    conn = httplib.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        conn.request("POST", "/sign/hash", body=json.dumps({"digest_hex": "bad"}), headers=headers)
        first = conn.getresponse()
        assert first.status == 400
        first.read()
        conn.request("POST", "/sign/hash", body=json.dumps({"digest_hex": DIGEST}), headers=headers)
        second = conn.getresponse()
        assert second.status == 200
        second.read()
    finally:
        conn.close()


def test_request_id_is_echoed(http: Any) -> None:
    reply = http.send("POST", "/sign/hash", {"digest_hex": DIGEST}, {"X-Request-Id": "req-42"})
    assert reply.headers["x-request-id"] == "req-42"
    body_id = http.send("POST", "/sign/hash", {"digest_hex": DIGEST, "request_id": "req-43"})
    assert body_id.headers["x-request-id"] == "req-43"


def test_concurrent_signing(http: Any) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        reply = http.send("POST", "/sign/hash", {"digest_hex": f"{i:02x}" * 32})
        with lock:
            results.append(reply.status)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [200] * 16


# -- /keys ------------------------------------------------------------------------------------------


def test_keys_jws_verifies_under_the_pin_and_tampering_fails(proxy: RunningProxy, http: Any) -> None:
    body = http.send("GET", "/keys", api_key=None).json
    assert set(body) == {"jwks", "jws", "metadata_key"}
    pin = proxy.env["SIGNING_PROXY_KEYS_PIN"]
    header, payload = verify_pinned(body["jws"], body["metadata_key"], pin)
    assert json.loads(payload) == body["jwks"]
    assert header["typ"] == "jwk-set+json" and header["kid"] == pin
    head, pay, sig = body["jws"].split(".")
    forged = json.loads(b64url_decode(pay))
    forged["keys"][0]["x"] = b64url_encode(bytes(32))
    tampered = f"{head}.{b64url_encode(canonicalize_payload(forged))}.{sig}"
    key = jwk_to_public_key(body["metadata_key"])
    with pytest.raises(Exception, match="does not verify"):
        verify_compact(tampered, key)  # type: ignore[arg-type]


def test_jwks_lists_no_private_members(http: Any) -> None:
    [jwk] = http.send("GET", "/keys", api_key=None).json["jwks"]["keys"]
    assert not {"d", "p", "q", "k"} & set(jwk)
    assert (jwk["kid"], jwk["alg"], jwk["status"], jwk["use"]) == ("signing-proxy-v1", "ed25519", "active", "sig")


# -- admin ------------------------------------------------------------------------------------------


def admin(http: Any, path: str, body: dict[str, Any], key: str | None = ADMIN_KEY) -> Any:
    return http.send("POST", path, body, api_key=key)


def test_rotate_then_revoke(http: Any) -> None:
    old = sign(http)
    rotated = admin(http, "/admin/rotate", {})
    assert rotated.status == 200
    assert rotated.json == {
        "kid": "signing-proxy-v2",
        "alg": "ed25519",
        "status": "active",
        "previous_kid": "signing-proxy-v1",
    }
    assert sign(http)["kid"] == "signing-proxy-v2"
    assert http.send("POST", "/verify", {"digest_hex": DIGEST, "signature": old}).json == {"valid": True}
    revoked = admin(http, "/admin/revoke", {"kid": "signing-proxy-v1", "reason": "test"})
    assert revoked.status == 200 and revoked.json["status"] == "revoked" and revoked.json["revoked_at"].endswith("Z")
    after = http.send("POST", "/verify", {"digest_hex": DIGEST, "signature": old})
    assert (after.status, after.code, after.json["error"]["kid"]) == (409, "KEY_REVOKED", "signing-proxy-v1")
    again = admin(http, "/admin/revoke", {"kid": "signing-proxy-v1"})
    assert (again.status, again.code) == (409, "KEY_STATE")
    ghost = admin(http, "/admin/revoke", {"kid": "ghost"})
    assert (ghost.status, ghost.code) == (404, "UNKNOWN_KEY")
    statuses = {k["kid"]: k["status"] for k in http.send("GET", "/keys", api_key=None).json["jwks"]["keys"]}
    assert statuses == {"signing-proxy-v1": "revoked", "signing-proxy-v2": "active"}


def test_revoking_the_active_key_stops_signing(http: Any) -> None:
    assert admin(http, "/admin/revoke", {"kid": "signing-proxy-v1"}).status == 200
    refused = http.send("POST", "/sign/hash", {"digest_hex": DIGEST})
    assert (refused.status, refused.code) == (409, "NO_ACTIVE_KEY")
    health = http.send("GET", "/health", api_key=None)
    assert (health.status, health.code) == (409, "NO_ACTIVE_KEY")
    assert admin(http, "/admin/rotate", {}).json["previous_kid"] is None
    assert sign(http)["kid"] == "signing-proxy-v2"


@pytest.mark.parametrize(
    ("path", "body", "key", "status", "code"),
    [
        ("/admin/rotate", {}, None, 401, "UNAUTHORIZED"),
        ("/admin/rotate", {}, "wrong", 401, "UNAUTHORIZED"),
        ("/admin/rotate", {"activate": False}, ADMIN_KEY, 400, "UNKNOWN_FIELD"),
        ("/admin/revoke", {}, ADMIN_KEY, 400, "MISSING_FIELD"),
        ("/admin/revoke", {"kid": 1}, ADMIN_KEY, 400, "BAD_FIELD"),
        ("/admin/revoke", {"kid": "signing-proxy-v1", "reason": ""}, ADMIN_KEY, 400, "BAD_FIELD"),
    ],
)
def test_admin_bad_input(http: Any, path: str, body: dict[str, Any], key: str | None, status: int, code: str) -> None:
    reply = admin(http, path, body, key)
    assert (reply.status, reply.code) == (status, code)


def test_admin_disabled_without_admin_key(http_for: Any) -> None:
    from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy

    with run_proxy({}, auth=AuthPolicy(api_key=API_KEY, admin_key=None)) as running:
        http = http_for(running.server.url)
        assert http.send("GET", "/health", api_key=None).json["admin"] is False
        reply = admin(http, "/admin/rotate", {}, API_KEY)
        assert (reply.status, reply.code) == (404, "NOT_FOUND")


def test_open_proxy_without_api_key(http_for: Any) -> None:
    from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy

    with run_proxy({}, auth=AuthPolicy(api_key=None, admin_key=ADMIN_KEY)) as running:
        assert (
            http_for(running.server.url).send("POST", "/sign/hash", {"digest_hex": DIGEST}, api_key=None).status == 200
        )


@pytest.mark.parametrize("alg", ["ecdsa-p256-sha256", "rsa-pss-sha256", "rsa-sha256", "hmac-sha256"])
def test_other_algorithms(alg: str, http_for: Any) -> None:
    with run_proxy({"api_key": API_KEY, "alg": alg}) as running:
        http = http_for(running.server.url)
        result = sign(http)
        assert result["alg"] == alg
        assert http.send("POST", "/verify", {"digest_hex": DIGEST, "signature": result}).json == {"valid": True}
        keys = http.send("GET", "/keys", api_key=None).json["jwks"]["keys"]
        assert len(keys) == (0 if alg == "hmac-sha256" else 1)


def test_mock_backend(http_for: Any) -> None:
    with run_proxy({"api_key": API_KEY, "backend": "mock", "mock_secret": "s"}) as running:
        first = sign(http_for(running.server.url))
    with run_proxy({"api_key": API_KEY, "backend": "mock", "mock_secret": "s"}) as running:
        second = sign(http_for(running.server.url))
    assert first == second and first["alg"] == "hmac-sha256"  # deterministic


@pytest.mark.parametrize(
    "options",
    [
        {"frobnicate": "1"},
        {"backend": "nope"},
        {"backend": "signing-proxy"},
        {"alg": "rsa-md5"},
        {"backend": "mock", "alg": "ed25519"},
        {"max_body": "12"},
        {"tls": "yes"},
    ],
)
def test_bad_options_are_config_errors(options: dict[str, str]) -> None:
    from pytest_kmsconform.emulators.signing_proxy.errors import ProxyConfigError

    with pytest.raises(ProxyConfigError), run_proxy(options):
        pass


@pytest.mark.parametrize(
    "extra",
    [
        f"Authorization: Bearer {API_KEY}\r\n",
        "Content-Length: 3\r\n",
        "Content-Type: application/json\r\n",
        f"X-API-Key: {API_KEY}\r\nX-API-Key: other\r\n",
    ],
    ids=["authorization", "content-length", "content-type", "x-api-key"],
)
def test_repeated_framing_or_credential_headers_are_refused(http: Any, extra: str) -> None:
    body = json.dumps({"digest_hex": DIGEST})
    raw = (
        f"POST /sign/hash HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n{body}"
    )
    reply = http.send_raw(raw.encode())
    assert (reply.status, reply.code) == (400, "BAD_REQUEST")
    assert "more than once" in reply.json["error"]["message"]


def test_connection_limit_closes_extra_connections() -> None:
    import socket

    from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy
    from pytest_kmsconform.emulators.signing_proxy.models import ProxyService
    from pytest_kmsconform.emulators.signing_proxy.responses import ProxyApp
    from pytest_kmsconform.emulators.signing_proxy.server import SigningProxyServer
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
    from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

    ring = KeyRing(LocalKeyBackend(), Algorithm.ED25519, "c")
    ring.rotate()
    app = ProxyApp(ProxyService(RingSigner(ring)), AuthPolicy())
    with SigningProxyServer(app, max_connections=2) as server:
        parts = urlsplit(server.url)
        address = (parts.hostname or "127.0.0.1", parts.port or 0)
        idle = [socket.create_connection(address, timeout=5) for _ in range(2)]
        try:
            import time

            def answer() -> bytes:
                with socket.create_connection(address, timeout=5) as sock:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    try:
                        return sock.recv(100)
                    except ConnectionResetError:
                        return b""

            deadline = time.monotonic() + 10
            while answer() != b"" and time.monotonic() < deadline:
                time.sleep(0.05)  # until the server has taken both idle connections
            assert answer() == b""  # a third connection is closed without an answer
            idle[0].close()
            while not (reply := answer()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert reply.startswith(b"HTTP/1.1 200")
        finally:
            for sock in idle:
                sock.close()
