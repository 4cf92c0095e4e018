"""The keep-alive HTTP front (``emulators/aws_kms/front.py``) answers exactly as moto's server did.

Both servers run side by side on one fidelity layer: moto's werkzeug server with moto's request
handler and application (the front's predecessor), and the emulator's front. The same raw requests
go to each; status line, headers (but ``Date``, and the ``Connection: close`` moto adds) and body
must be the same bytes. Then what the front adds: several requests on one connection, chunked
request bodies, concurrent connections.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from pytest_kmsconform.emulators.aws_kms import KmsEmulator
from pytest_kmsconform.emulators.aws_kms.models import fidelity_kms_backends
from pytest_kmsconform.emulators.aws_kms.server import resetting
from werkzeug.serving import make_server

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0000"
)


class _MotoServer(ThreadedMotoServer):
    """The server the front replaced: moto's handler and application, with the reset wrapper."""

    def _server_entry(self) -> None:
        app = resetting(DomainDispatcherApplication(create_backend_app), fidelity_kms_backends.drop_all)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[int, int]]:
    with KmsEmulator(seed=b"front") as emulator:
        moto_server = _MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto_server.start()
        try:
            yield int(emulator.url.rsplit(":", 1)[1]), moto_server.get_host_and_port()[1]
        finally:
            moto_server.stop()


def _headers(target: str | None, *, service: str | None = "kms", region: str = "us-east-1") -> dict[str, str]:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        headers["X-Amz-Target"] = f"TrentService.{target}"
    if service is not None:
        headers["Authorization"] = AUTH.format(region=region, service=service)
    return headers


def _exchange(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """One request on a new connection; the raw answer, read to its end (Content-Length)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        reader = sock.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = reader.readline()
            assert line, f"connection closed mid-answer: {head!r}"
            head += line
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return head + (reader.read(length) if method != "HEAD" else b"")


def _comparable(answer: bytes) -> bytes:
    """The answer without ``Date`` and ``Connection``, and with moto's random request id masked."""
    head, _, body = answer.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n") if not line.lower().startswith((b"date:", b"connection:"))]
    kept = [b"x-amzn-requestid: *" if line.lower().startswith(b"x-amzn-requestid:") else line for line in kept]
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


def _key(port: int, spec: str, usage: str) -> str:
    answer = _exchange(
        port, "POST", "/", _headers("CreateKey"), json.dumps({"KeySpec": spec, "KeyUsage": usage}).encode()
    )
    return str(json.loads(answer.partition(b"\r\n\r\n")[2])["KeyMetadata"]["KeyId"])


def _cases(mac_key: str, sign_key: str) -> list[tuple[str, str, str, dict[str, str], bytes]]:
    message = base64.b64encode(b"m" * 32).decode()
    kms = [
        ("mac", "GenerateMac", {"KeyId": mac_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
        ("describe", "DescribeKey", {"KeyId": sign_key}),
        ("public key", "GetPublicKey", {"KeyId": sign_key}),
        ("not found", "Sign", {"KeyId": "nope", "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}),
        ("validation", "Sign", {"KeyId": sign_key, "Message": message, "SigningAlgorithm": "NOPE"}),
        ("wrong usage", "GenerateMac", {"KeyId": sign_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
        ("gap", "CreateCustomKeyStore", {"CustomKeyStoreName": "x"}),
        ("unknown operation", "Nope", {}),
    ]
    cases = [(name, "POST", "/", _headers(t), json.dumps(b).encode()) for name, t, b in kms]
    cases += [
        ("not JSON", "POST", "/", _headers("ListKeys"), b"{nope"),
        ("other region", "POST", "/", _headers("ListAliases", region="eu-west-3"), b"{}"),
        ("unsigned: moto's default service", "POST", "/", _headers("ListKeys", service=None), b"{}"),
        ("another service", "POST", "/", _headers(None, service="sts"), b"Action=GetCallerIdentity&Version=2011-06-15"),
        ("another path", "POST", "/other", _headers("ListKeys"), b"{}"),
        ("CORS", "POST", "/", {**_headers("ListKeys"), "Origin": "http://example.test"}, b"{}"),
        ("GET", "GET", "/", _headers("ListKeys"), b""),
        ("moto-api", "GET", "/moto-api/data.json", {}, b""),
    ]
    return cases


def test_the_front_answers_byte_for_byte_as_motos_server(servers: tuple[int, int]) -> None:
    front, moto_port = servers
    mac_key, sign_key = _key(front, "HMAC_256", "GENERATE_VERIFY_MAC"), _key(front, "ECC_NIST_P256", "SIGN_VERIFY")
    for name, method, path, headers, body in _cases(mac_key, sign_key):
        ours = _comparable(_exchange(front, method, path, headers, body))
        theirs = _comparable(_exchange(moto_port, method, path, headers, body))
        assert ours == theirs, f"{name}: the front answered\n{ours!r}\nmoto's server\n{theirs!r}"


def test_one_connection_serves_many_requests(servers: tuple[int, int]) -> None:
    front, _ = servers
    key = _key(front, "HMAC_256", "GENERATE_VERIFY_MAC")
    conn = http.client.HTTPConnection("127.0.0.1", front, timeout=30)
    try:
        conn.connect()
        local = conn.sock.getsockname()
        for i in range(5):
            body = {"KeyId": key, "Message": base64.b64encode(bytes([i]) * 32).decode(), "MacAlgorithm": "HMAC_SHA_256"}
            conn.request("POST", "/", json.dumps(body).encode(), _headers("GenerateMac"))
            response = conn.getresponse()
            assert response.status == 200, response.read()
            assert response.getheader("Connection") != "close"
            assert json.loads(response.read())["MacAlgorithm"] == "HMAC_SHA_256"
            assert conn.sock is not None and conn.sock.getsockname() == local, "the connection was not kept"
    finally:
        conn.close()


def test_a_chunked_body_is_read_in_full_and_the_connection_goes_on(servers: tuple[int, int]) -> None:
    front, _ = servers
    conn = http.client.HTTPConnection("127.0.0.1", front, timeout=30)
    try:
        conn.request("POST", "/", iter([b'{"Li', b'mit": 1}']), _headers("ListKeys"), encode_chunked=True)
        first = conn.getresponse()
        assert first.status == 200 and "Keys" in json.loads(first.read())
        conn.request("POST", "/", b"{}", _headers("ListAliases"))
        second = conn.getresponse()
        assert second.status == 200 and "Aliases" in json.loads(second.read())
    finally:
        conn.close()


def test_connections_are_served_concurrently(servers: tuple[int, int]) -> None:
    """A client that holds a connection open, mid-request, does not stop another one."""
    front, _ = servers
    stalled = socket.create_connection(("127.0.0.1", front), timeout=30)
    try:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # body never completes
        done = threading.Event()

        def other() -> None:
            _exchange(front, "POST", "/", _headers("ListKeys"), b"{}")
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=30)
        assert done.is_set(), "a second connection waited for the first"
    finally:
        stalled.close()
