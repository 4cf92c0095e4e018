"""Wire layer without sockets: field parsing, framing checks, error shape, and the app's check order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_kmsconform.emulators.signing_proxy import wire
from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy, presented_credential
from pytest_kmsconform.emulators.signing_proxy.errors import ErrorCode, WireError
from pytest_kmsconform.emulators.signing_proxy.models import ProxyService
from pytest_kmsconform.emulators.signing_proxy.responses import ProxyApp
from pytest_kmsconform.emulators.signing_proxy.wire import RequestHead
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.canonical import canonicalize_payload
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

DIGEST = "0f" * 32


def code_of(fn: Any, *args: Any) -> ErrorCode:
    with pytest.raises(WireError) as info:
        fn(*args)
    return info.value.code


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("0F" * 32, ErrorCode.BAD_DIGEST),
        ("zz" * 32, ErrorCode.BAD_DIGEST),
        (" " + "0f" * 32, ErrorCode.BAD_DIGEST),
        (12, ErrorCode.BAD_DIGEST),
        (["0f"], ErrorCode.BAD_DIGEST),
        ("0f" * 31, ErrorCode.WRONG_DIGEST_LENGTH),
        ("0f" * 33, ErrorCode.WRONG_DIGEST_LENGTH),
        ("", ErrorCode.WRONG_DIGEST_LENGTH),
        ("0" * 63, ErrorCode.WRONG_DIGEST_LENGTH),
    ],
)
def test_bad_digests_have_their_codes(value: Any, code: ErrorCode) -> None:
    assert code_of(wire.parse_digest_hex, value) is code


def test_good_digest_parses() -> None:
    assert wire.parse_digest_hex(DIGEST) == bytes.fromhex(DIGEST)


def test_prev_hash_is_optional_and_checked() -> None:
    assert wire.parse_prev_hash(None) is None
    assert wire.parse_prev_hash("aa" * 32) == b"\xaa" * 32
    assert code_of(wire.parse_prev_hash, "aa" * 31) is ErrorCode.BAD_PREV_HASH
    assert code_of(wire.parse_prev_hash, "AA" * 32) is ErrorCode.BAD_PREV_HASH


@pytest.mark.parametrize(
    "text",
    ['{"b":1,"a":2}', '{"a": 1}', '{"a":1.0}', '{"a":"\\u0041"}', "{'a':1}", '{"a":NaN}', '{"a":1', '"\\ud800"'],
)
def test_non_canonical_text_is_refused(text: str) -> None:
    assert code_of(wire.parse_canonical, text) is ErrorCode.NOT_CANONICAL


def test_canonical_text_must_be_a_string() -> None:
    assert code_of(wire.parse_canonical, {"a": 1}) is ErrorCode.BAD_FIELD


@pytest.mark.parametrize("payload", [{"b": [1, 2.5, "é"], "a": None}, [], "x", 1e21, {"k": {"z": True, "y": -0.5}}])
def test_canonical_text_round_trips(payload: Any) -> None:
    text = canonicalize_payload(payload).decode("utf-8")
    assert wire.parse_canonical(text) == text.encode("utf-8")


def test_signature_string_and_object_forms() -> None:
    ref = wire.parse_signature("AAEC", "k1", "ed25519")
    assert (ref.value, ref.kid, ref.alg) == (b"\x00\x01\x02", "k1", Algorithm.ED25519)
    bare = wire.parse_signature("AAEC", None, None)
    assert (bare.kid, bare.alg) == (None, None)
    for member in ("signature", "sig"):
        obj = wire.parse_signature({"kid": "k2", "alg": "hmac-sha256", member: "AAEC"}, None, None)
        assert (obj.value, obj.kid, obj.alg) == (b"\x00\x01\x02", "k2", Algorithm.HMAC_SHA256)


@pytest.mark.parametrize(
    ("value", "kid", "alg"),
    [
        ("not base64!", None, None),
        ("AAE+", None, None),
        ("", None, None),
        ("AAEC", None, "rsa-md5"),
        ("AAEC", 5, None),
        (7, None, None),
        ({"kid": "k", "alg": "ed25519"}, None, None),
        ({"kid": "k", "alg": "ed25519", "sig": "AA", "signature": "AA"}, None, None),
        ({"kid": "k", "alg": "ed25519", "sig": "AA", "extra": 1}, None, None),
        ({"alg": "ed25519", "sig": "AA"}, None, None),
        ({"kid": "", "alg": "ed25519", "sig": "AA"}, None, None),
        ({"kid": "k", "alg": "ed25519", "sig": "AA"}, "k", None),
    ],
)
def test_bad_signatures_are_bad_signature(value: Any, kid: Any, alg: Any) -> None:
    assert code_of(wire.parse_signature, value, kid, alg) is ErrorCode.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe", ErrorCode.BAD_JSON),
        (b"", ErrorCode.BAD_JSON),
        (b"[1]", ErrorCode.BAD_JSON),
        (b'{"digest_hex": NaN}', ErrorCode.BAD_JSON),
        (b'{"digest_hex":"a","digest_hex":"b"}', ErrorCode.BAD_JSON),
        (b"[" * 100000, ErrorCode.BAD_JSON),
        (b'{"digestHex":"a"}', ErrorCode.UNKNOWN_FIELD),
    ],
)
def test_json_body_defects(body: bytes, code: ErrorCode) -> None:
    assert code_of(wire.parse_json_object, body, frozenset({"digest_hex"})) is code


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ({"content-type": "text/plain"}, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ({"content-type": "application/json; charset=latin-1"}, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    ],
)
def test_content_type(headers: dict[str, str], code: ErrorCode) -> None:
    assert code_of(wire.check_content_type, RequestHead("POST", "/x", headers)) is code


def test_content_type_accepts_utf8_charset_and_case() -> None:
    wire.check_content_type(RequestHead("POST", "/x", {"content-type": "Application/JSON; charset=UTF-8"}))


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, ErrorCode.LENGTH_REQUIRED),
        ({"transfer-encoding": "chunked"}, ErrorCode.LENGTH_REQUIRED),
        ({"content-length": "-1"}, ErrorCode.BAD_REQUEST),
        ({"content-length": "1e3"}, ErrorCode.BAD_REQUEST),
        ({"content-length": "١٢"}, ErrorCode.BAD_REQUEST),
        ({"content-length": "1025"}, ErrorCode.BODY_TOO_LARGE),
    ],
)
def test_body_length(headers: dict[str, str], code: ErrorCode) -> None:
    assert code_of(wire.body_length, RequestHead("POST", "/x", headers), 1024) is code


def test_error_shape() -> None:
    response = wire.error_response(WireError(ErrorCode.BAD_DIGEST, "no", extra={"field": "digest_hex"}))
    assert response.status == 400
    assert json.loads(response.body) == {"error": {"code": "BAD_DIGEST", "message": "no", "field": "digest_hex"}}


def test_presented_credential_forms() -> None:
    assert presented_credential(RequestHead("GET", "/", {"x-api-key": "k"})) == "k"
    assert presented_credential(RequestHead("GET", "/", {"authorization": "Bearer k"})) == "k"
    assert presented_credential(RequestHead("GET", "/", {"authorization": "bearer k", "x-api-key": "k"})) == "k"
    for headers in (
        {"authorization": "Basic a2V5"},
        {"authorization": "Bearer "},
        {"authorization": "Bearer a", "x-api-key": "b"},
    ):
        with pytest.raises(WireError) as info:
            presented_credential(RequestHead("GET", "/", headers))
        assert info.value.code is ErrorCode.UNAUTHORIZED


# -- the app, fed in memory ------------------------------------------------------------------------


def make_app() -> ProxyApp:
    ring = KeyRing(LocalKeyBackend(seed=b"wire"), Algorithm.ED25519, "w")
    ring.rotate()
    return ProxyApp(ProxyService(RingSigner(ring)), AuthPolicy(api_key="k", admin_key="a"), max_body=2048)


class Reader:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        return self.body[:n]


def call(app: ProxyApp, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, Any, Reader]:
    reader = Reader(body)
    head_headers = {"content-type": "application/json", "content-length": str(len(body)), "x-api-key": "k"}
    head_headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    head_headers = {k: v for k, v in head_headers.items() if v != "<none>"}
    response = app.respond(RequestHead(method, path, head_headers), reader)
    return response.status, json.loads(response.body), reader


def test_unauthenticated_body_is_never_read() -> None:
    status, body, reader = call(
        make_app(), "POST", "/sign/hash", b'{"digest_hex":"' + b"0f" * 32 + b'"}', x_api_key="nope"
    )
    assert (status, body["error"]["code"], reader.calls) == (401, "UNAUTHORIZED", 0)


def test_oversized_body_is_never_read() -> None:
    status, body, reader = call(make_app(), "POST", "/sign/hash", b"x", content_length="4096")
    assert (status, body["error"]["code"], reader.calls) == (413, "BODY_TOO_LARGE", 0)
    assert body["error"]["limit"] == 2048


def test_route_checks_come_first() -> None:
    assert call(make_app(), "POST", "/nowhere", x_api_key="<none>")[1]["error"]["code"] == "NOT_FOUND"
    status, body, _ = call(make_app(), "GET", "/sign/hash", x_api_key="<none>")
    assert (status, body["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")


def test_short_body_is_bad_request() -> None:
    status, body, _ = call(make_app(), "POST", "/sign/hash", b"{}", content_length="10")
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")


def test_sign_in_memory() -> None:
    status, body, _ = call(make_app(), "POST", "/sign/hash", json.dumps({"digest_hex": DIGEST}).encode())
    assert status == 200 and body["kid"] == "w-v1" and body["alg"] == "ed25519"


def test_an_unexpected_failure_is_a_500_without_internals() -> None:
    class Exploding(ProxyService):
        def health(self) -> dict[str, Any]:
            raise RuntimeError("secret internals")

    app = make_app()
    app.service = Exploding(app.service.signer)
    status, body, _ = call(app, "GET", "/health")
    assert (status, body["error"]["code"]) == (500, "INTERNAL")
    assert "secret" not in body["error"]["message"]
