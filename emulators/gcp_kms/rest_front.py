"""The REST front: HTTP/JSON transcoding of ``/v1/...`` onto the RPC layer (``google.api.http``).

* path variables and the body (``*`` or one named field) per :mod:`.rest_routes`; every other
  field may come as a query parameter (camelCase or snake_case, dotted for nested fields), as the
  client sends ``cryptoKeyId``, ``updateMask``, ``skipInitialVersionCreation``, ``publicKeyFormat``;
* JSON through ``google.protobuf.json_format`` on the package's own messages: bytes are standard
  base64, int64 and wrapper int64 are strings, timestamps RFC 3339, unknown JSON fields are
  INVALID_ARGUMENT; ``$alt=json;enum-encoding=int`` (what the client sends) answers enums as
  numbers, plain ``$alt=json`` as names;
* errors as ``{"error": {"code", "message", "status", "details"}}`` with the canonical HTTP status.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import struct
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import descriptor, json_format
from google.protobuf.message import Message

from . import rest_routes
from .errors import Code, EmulatorGap, KmsApiError, invalid
from .faults import Drop
from .service import RPCS, KmsService

MAX_BODY = 1024 * 1024
FD = descriptor.FieldDescriptor


def _field(message: Message, path: str) -> tuple[Message, descriptor.FieldDescriptor]:
    """The message holding the last segment of ``path`` (json or proto names) and its field."""
    target = message
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = target.DESCRIPTOR.fields_by_name
        fd = fields.get(part) or next((f for f in target.DESCRIPTOR.fields if f.json_name == part), None)
        if fd is None:
            raise invalid(f'Invalid JSON payload received. Unknown name "{path}": Cannot bind query parameter.')
        if i == len(parts) - 1:
            return target, fd
        if fd.message_type is None:
            raise invalid(f'Invalid JSON payload received. "{path}" is not a message field.')
        target = getattr(target, fd.name)
    raise AssertionError("unreachable")


def _scalar(fd: descriptor.FieldDescriptor, text: str) -> Any:
    if fd.type == FD.TYPE_BOOL:
        if text not in ("true", "false"):
            raise invalid(f'Invalid value at "{fd.json_name}" (TYPE_BOOL), "{text}"')
        return text == "true"
    if fd.type == FD.TYPE_ENUM:
        assert fd.enum_type is not None
        if text.lstrip("-").isdigit():
            return int(text)
        value = fd.enum_type.values_by_name.get(text)
        if value is None:
            raise invalid(f'Invalid value at "{fd.json_name}" ({fd.enum_type.full_name}), "{text}"')
        return value.number
    if fd.type in (FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32, FD.TYPE_SINT64):
        try:
            return int(text)
        except ValueError:
            raise invalid(f'Invalid value at "{fd.json_name}" (TYPE_INT), "{text}"') from None
    if fd.type == FD.TYPE_BYTES:
        try:
            return base64.b64decode(
                text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None
            )
        except (binascii.Error, ValueError):
            raise invalid(f'Invalid value at "{fd.json_name}" (TYPE_BYTES), "{text}"') from None
    return text


def _set_query(message: Message, key: str, value: str) -> None:
    holder, fd = _field(message, key)
    if fd.message_type is not None:
        # well-known types in their JSON string form: FieldMask, Duration, Timestamp, wrappers
        try:
            json_format.Parse(json.dumps(value), getattr(holder, fd.name))
        except json_format.ParseError as exc:
            raise invalid(f"Invalid value for query parameter {key!r}: {exc}") from None
        return
    converted = _scalar(fd, value)
    if fd.is_repeated:
        getattr(holder, fd.name).append(converted)
    else:
        setattr(holder, fd.name, converted)


def transcode(rpc_name: str, route: rest_routes.Route, variable: str, query: str, body: bytes) -> Any:
    """The proto-plus request for one HTTP request (raises INVALID_ARGUMENT on a bad one)."""
    rpc = RPCS[rpc_name]
    pb: Message = rpc.request.pb()()
    try:
        if route.body == "*":
            json_format.Parse(body or b"{}", pb)
        elif route.body is not None:
            json_format.Parse(body or b"{}", getattr(pb, route.body))
        elif body.strip():
            raise invalid("This method takes no request body.")
    except json_format.ParseError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from None
    holder, fd = _field(pb, route.field)
    setattr(holder, fd.name, variable)
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key.startswith("$") or key in ("alt", "key", "access_token", "prettyPrint", "fields", "quotaUser"):
            continue
        _set_query(pb, key, value)
    return rpc.request.wrap(pb)


def error_body(error: KmsApiError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": error.http_status, "message": error.message, "status": Code(error.code).name}
    if error.violations:
        out["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [
                    {"type": v.type, "subject": v.subject, "description": v.description} for v in error.violations
                ],
            }
        ]
    return {"error": out}


def _alt(query: str) -> bool:
    """Whether ``$alt`` asks for integer enums; anything but JSON is refused."""
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key in ("$alt", "alt"):
            parts = [p.strip() for p in value.split(";")]
            if parts[0] != "json":
                raise invalid(f"$alt={value!r} is not supported; use json.")
            return "enum-encoding=int" in parts[1:]
    return False


class RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without it each call stalls ~40 ms
    server: RestServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry resource names."""

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        # SO_LINGER 0: close() sends RST, as a lost connection looks to the client
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _handle(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self._send(413, error_body(KmsApiError(Code.INVALID_ARGUMENT, "Request payload too large.")))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.unquote(parsed.path)
        try:
            ints = _alt(parsed.query)
            found = rest_routes.match(self.command, path)
            if found is None:
                raise KmsApiError(Code.NOT_FOUND, f"The requested URL {path} was not found on this server.")
            route, variable = found
            if route.rpc not in RPCS:
                raise EmulatorGap(f"RPC {route.rpc}")
            request = transcode(route.rpc, route, variable, parsed.query, body)
            response = self.server.service.call(route.rpc, request)
        except KmsApiError as exc:
            self._send(exc.http_status, error_body(exc))
            return
        except Drop:
            self._drop()
            return
        except Exception as exc:  # an emulator bug: answered 500 and kept for check()
            self.server.errors.append(exc)
            self._send(500, error_body(KmsApiError(Code.INTERNAL, f"kmsconform emulator bug: {exc!r}")))
            return
        doc = json_format.MessageToDict(type(response).pb(response), use_integers_for_enums=ints)
        self._send(200, doc)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


class RestServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops connections from client pools

    def __init__(self, address: tuple[str, int], service: KmsService) -> None:
        self.service = service
        self.errors: list[Exception] = []
        super().__init__(address, RestHandler)
