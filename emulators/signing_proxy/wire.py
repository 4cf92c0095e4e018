"""The proxy's wire format: request heads, responses, body and field parsing, error shaping.

Pure functions only (no sockets, no key state): every defect in a request becomes a
:class:`~.errors.WireError` with a stable code, so bad input always gets a 4xx, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.canonical import DIGEST_SIZE, canonicalize_payload
from pytest_kmsconform.reference_impl.errors import ArchiveFormatError, CanonicalizationError
from pytest_kmsconform.reference_impl.signature import Signature, b64url_decode, b64url_encode

from .errors import ErrorCode, WireError

JSON_TYPE = "application/json"
DEFAULT_MAX_BODY = 64 * 1024
MAX_ID_LENGTH = 256
BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@dataclass(frozen=True)
class RequestHead:
    """Method, path and headers of a request (header names lower-cased; values as received)."""

    method: str
    target: str
    headers: Mapping[str, str] = field(default_factory=dict)
    repeated: frozenset[str] = frozenset()
    """Lower-cased names of headers sent more than once (``headers`` keeps the last value)."""

    @classmethod
    def from_pairs(cls, method: str, target: str, pairs: Iterable[tuple[str, str]]) -> RequestHead:
        headers: dict[str, str] = {}
        repeated: set[str] = set()
        for name, value in pairs:
            key = name.lower()
            if key in headers:
                repeated.add(key)
            headers[key] = value
        return cls(method, target, headers, frozenset(repeated))

    @property
    def path(self) -> str:
        """The target without query string or fragment."""
        return self.target.split("?", 1)[0].split("#", 1)[0]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = JSON_TYPE
    close: bool = False
    """Close the connection after this response (its request body was not read)."""


def json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return Response(status=status, body=body, headers=tuple((headers or {}).items()))


def error_response(error: WireError) -> Response:
    """``{"error": {"code": ..., "message": ..., <extra>}}`` with the code's status."""
    payload: dict[str, Any] = dict(error.extra)
    payload.update({"code": error.code.wire_name, "message": error.message})
    response = json_response(error.code.status, {"error": payload}, error.headers)
    return Response(response.status, response.body, response.headers, response.content_type, close=error.close)


# -- request framing ---------------------------------------------------------------------------

SINGLE_HEADERS = frozenset({"authorization", "x-api-key", "content-type", "content-length", "transfer-encoding"})


def check_single_headers(head: RequestHead) -> None:
    """Framing and credential headers may appear once: two values are ambiguous (request smuggling)."""
    twice = sorted(head.repeated & SINGLE_HEADERS)
    if twice:
        raise WireError(ErrorCode.BAD_REQUEST, f"header(s) sent more than once: {', '.join(twice)}", close=True)


def check_content_type(head: RequestHead) -> None:
    """Bodies must be ``application/json`` (a ``charset`` parameter, if any, must be UTF-8)."""
    value = head.header("content-type")
    if value is None:
        raise WireError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json", close=True)
    media_type, *params = (part.strip() for part in value.split(";"))
    if media_type.lower() != JSON_TYPE:
        raise WireError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be application/json, got {media_type!r}", close=True
        )
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise WireError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "the only accepted charset is utf-8", close=True)


def body_length(head: RequestHead, max_body: int) -> int:
    """The declared body length; chunked or missing lengths and oversized bodies are refused."""
    if head.header("transfer-encoding") is not None:
        raise WireError(ErrorCode.LENGTH_REQUIRED, "chunked bodies are not accepted; send Content-Length", close=True)
    raw = head.header("content-length")
    if raw is None:
        raise WireError(ErrorCode.LENGTH_REQUIRED, "Content-Length is required", close=True)
    text = raw.strip()
    if not text.isdigit() or not text.isascii():
        raise WireError(ErrorCode.BAD_REQUEST, f"invalid Content-Length {raw!r}", close=True)
    length = int(text)
    if length > max_body:
        raise WireError(
            ErrorCode.BODY_TOO_LARGE,
            f"request body of {length} bytes exceeds the limit of {max_body} bytes",
            extra={"limit": max_body},
            close=True,
        )
    return length


def parse_json_object(body: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    """Decode a UTF-8 JSON object; duplicate or unknown members are refused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(ErrorCode.BAD_JSON, "body is not valid UTF-8") from None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise WireError(ErrorCode.BAD_JSON, f"duplicate member {key!r}")
            obj[key] = value
        return obj

    def no_constants(name: str) -> Any:
        raise WireError(ErrorCode.BAD_JSON, f"{name} is not JSON")

    try:
        obj = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        raise WireError(ErrorCode.BAD_JSON, f"body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise WireError(ErrorCode.BAD_JSON, "body must be a JSON object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise WireError(
            ErrorCode.UNKNOWN_FIELD,
            f"unknown member(s) {', '.join(map(repr, unknown))}; accepted: {', '.join(sorted(allowed))}",
        )
    return obj


# -- fields --------------------------------------------------------------------------------------


def require(obj: Mapping[str, Any], name: str) -> Any:
    if name not in obj or obj[name] is None:
        raise WireError(ErrorCode.MISSING_FIELD, f"member {name!r} is required", extra={"field": name})
    return obj[name]


def _hex32(value: Any, name: str, bad: ErrorCode) -> bytes:
    if not isinstance(value, str):
        raise WireError(bad, f"{name} must be a hex string, got {type(value).__name__}", extra={"field": name})
    if any(c not in "0123456789abcdef" for c in value):
        raise WireError(bad, f"{name} must be lower-case hex (0-9, a-f)", extra={"field": name})
    if len(value) != 2 * DIGEST_SIZE:
        code = ErrorCode.WRONG_DIGEST_LENGTH if bad is ErrorCode.BAD_DIGEST else bad
        raise WireError(
            code,
            f"{name} must be {2 * DIGEST_SIZE} hex characters ({DIGEST_SIZE} bytes), got {len(value)}",
            extra={"field": name},
        )
    return bytes.fromhex(value)


def parse_digest_hex(value: Any, name: str = "digest_hex") -> bytes:
    """A SHA-256 digest as 64 lower-case hex characters."""
    return _hex32(value, name, ErrorCode.BAD_DIGEST)


def parse_prev_hash(value: Any) -> bytes | None:
    """``prev_hash`` of ``/sign/canonical``: absent/null (genesis record) or 64 lower-case hex."""
    return None if value is None else _hex32(value, "prev_hash", ErrorCode.BAD_PREV_HASH)


def parse_string(value: Any, name: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise WireError(ErrorCode.BAD_FIELD, f"{name} must be a non-empty string of at most {max_length} characters")
    return value


def parse_canonical(value: Any) -> bytes:
    """The canonical payload text; it must already be RFC 8785 canonical (checked by re-canonicalizing)."""
    if not isinstance(value, str):
        raise WireError(ErrorCode.BAD_FIELD, "canonical must be a string holding RFC 8785 JSON text")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError(ErrorCode.NOT_CANONICAL, "canonical holds a lone surrogate") from None
    try:
        parsed = json.loads(value, parse_constant=lambda name: float(name))
        again = canonicalize_payload(parsed)
    except (ValueError, RecursionError, CanonicalizationError) as exc:
        raise WireError(ErrorCode.NOT_CANONICAL, f"canonical is not canonical JSON: {exc}") from None
    if again != data:
        raise WireError(
            ErrorCode.NOT_CANONICAL,
            "canonical is not in RFC 8785 form (member order, whitespace, number or string format)",
        )
    return data


@dataclass(frozen=True)
class SignatureRef:
    """A signature submitted to ``/verify``: ``kid``/``alg`` are ``None`` when not given."""

    value: bytes
    kid: str | None
    alg: Algorithm | None


def _parse_alg(value: Any) -> Algorithm | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(ErrorCode.BAD_SIGNATURE, "alg must be a string")
    try:
        return Algorithm(value)
    except ValueError:
        known = ", ".join(a.value for a in Algorithm)
        raise WireError(ErrorCode.BAD_SIGNATURE, f"unknown alg {value!r}; expected one of: {known}") from None


def _parse_sig_value(value: Any, name: str) -> bytes:
    # Checked here because the stdlib decoder silently drops characters outside the alphabet.
    if not isinstance(value, str) or not BASE64URL.fullmatch(value):
        raise WireError(ErrorCode.BAD_SIGNATURE, f"{name} must be a non-empty base64url string (A-Z a-z 0-9 - _)")
    try:
        return b64url_decode(value)
    except ArchiveFormatError as exc:
        raise WireError(ErrorCode.BAD_SIGNATURE, f"{name}: {exc}") from None


def _parse_kid(value: Any, name: str) -> str:
    try:
        return parse_string(value, name)
    except WireError as exc:
        raise WireError(ErrorCode.BAD_SIGNATURE, exc.message) from None


def parse_signature(value: Any, kid: Any, alg: Any) -> SignatureRef:
    """``signature`` of ``/verify``: a base64url string, or an object ``{kid, alg, signature|sig}``.

    The object form takes the response of ``/sign/*`` unchanged, or the reference
    ``Signature.to_json()`` form; top-level ``kid``/``alg`` are only allowed with the string form.
    """
    if isinstance(value, str):
        ref_kid = None if kid is None else _parse_kid(kid, "kid")
        return SignatureRef(value=_parse_sig_value(value, "signature"), kid=ref_kid, alg=_parse_alg(alg))
    if not isinstance(value, dict):
        raise WireError(ErrorCode.BAD_SIGNATURE, "signature must be a base64url string or an object")
    if kid is not None or alg is not None:
        raise WireError(ErrorCode.BAD_SIGNATURE, "give kid/alg inside the signature object, not beside it")
    unknown = sorted(set(value) - {"kid", "alg", "signature", "sig"})
    if unknown:
        raise WireError(ErrorCode.BAD_SIGNATURE, f"unknown signature member(s): {', '.join(map(repr, unknown))}")
    if ("signature" in value) == ("sig" in value):
        raise WireError(ErrorCode.BAD_SIGNATURE, "the signature object needs exactly one of 'signature' or 'sig'")
    raw = value["signature"] if "signature" in value else value["sig"]
    if "kid" not in value or "alg" not in value:
        raise WireError(ErrorCode.BAD_SIGNATURE, "the signature object needs 'kid' and 'alg'")
    sig_kid = _parse_kid(value["kid"], "signature.kid")
    return SignatureRef(value=_parse_sig_value(raw, "signature value"), kid=sig_kid, alg=_parse_alg(value["alg"]))


def signature_json(signature: Signature) -> dict[str, str]:
    """``{kid, alg, signature}`` as ``/sign/*`` returns it (signature: base64url, no padding)."""
    return {"kid": signature.kid, "alg": signature.alg.value, "signature": b64url_encode(signature.value)}


def parse_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise WireError(ErrorCode.BAD_FIELD, f"{name} must be true or false")
    return value
