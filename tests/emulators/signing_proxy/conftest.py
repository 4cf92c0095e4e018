"""Helpers for the signing proxy tests: a running proxy with known keys, and a raw HTTP client."""

from __future__ import annotations

import http.client as httplib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest_kmsconform.emulators.signing_proxy.provider import RunningProxy, run_proxy

API_KEY = "test-api-key-0123456789"
ADMIN_KEY = "test-admin-key-9876543210"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return str(self.json["error"]["code"])


class HttpClient:
    """Raw HTTP to one proxy URL (tests get it from the ``http`` / ``http_for`` fixtures)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def send(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        api_key: str | None = API_KEY,
        content_type: str | None = "application/json",
    ) -> Reply:
        return send(self.url, method, path, body, headers, api_key=api_key, content_type=content_type)

    def send_raw(self, raw: bytes) -> Reply:
        return send_raw(self.url, raw)


def send(
    url: str,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    api_key: str | None = API_KEY,
    content_type: str | None = "application/json",
) -> Reply:
    """One request over a fresh connection, with full control of headers and body bytes."""
    parts = urlsplit(url)
    conn = httplib.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    all_headers: dict[str, str] = {}
    if api_key is not None:
        all_headers["Authorization"] = f"Bearer {api_key}"
    if data is not None and content_type is not None:
        all_headers["Content-Type"] = content_type
    all_headers.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=all_headers)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def send_raw(url: str, raw: bytes) -> Reply:
    """Write raw bytes to the server and parse whatever HTTP response comes back."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10) as sock:
        sock.sendall(raw)
        resp = httplib.HTTPResponse(sock)
        resp.begin()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())


@pytest.fixture
def proxy() -> Iterator[RunningProxy]:
    with run_proxy({"api_key": API_KEY, "admin_key": ADMIN_KEY, "seed": "signing-proxy-tests"}) as running:
        yield running


@pytest.fixture
def url(proxy: RunningProxy) -> str:
    return proxy.server.url


@pytest.fixture
def http(url: str) -> HttpClient:
    return HttpClient(url)


@pytest.fixture
def http_for() -> type[HttpClient]:
    return HttpClient
