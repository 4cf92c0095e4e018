"""The HTTP fault proxy against a scripted upstream: every fault kind, on the wire."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
import urllib.parse
from typing import Any

import pytest
from pytest_kmsconform.emulators.faults import FaultProxy, FaultProxyError, plan_from_dict

SIGNATURE = bytes(range(64))  # what the upstream fixture signs with


def post(url: str, path: str, body: bytes, headers: dict[str, str], timeout: float = 5.0) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


KMS_SIGN = {"X-Amz-Target": "TrentService.Sign", "Content-Type": "application/x-amz-json-1.1"}


def proxy_for(upstream: Any, rules: list[dict[str, Any]], **kw: Any) -> FaultProxy:
    return FaultProxy(upstream.url, plan_from_dict({"seed": 1, "rules": rules}), **kw)


def bit_distance(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


def test_passthrough_and_loopback_bind(upstream: Any) -> None:
    with proxy_for(upstream, []) as proxy:
        assert proxy.url.startswith("http://127.0.0.1:")
        status, body = post(proxy.url, "/", b"{}", KMS_SIGN)
    assert status == 200 and base64.b64decode(json.loads(body)["Signature"]) == SIGNATURE
    assert upstream.seen[0][1] == "TrentService.Sign"
    assert [(e.operation, e.fault) for e in proxy.events] == [("Sign", None)]


def test_minimal_plan_answers_kms_throttling_without_reaching_upstream(upstream: Any) -> None:
    rules = [{"operation": "Sign", "fault": "error", "error": "ThrottlingException", "probability": 1.0}]
    with proxy_for(upstream, rules) as proxy:
        status, body = post(proxy.url, "/", b"{}", KMS_SIGN)
        ok, _ = post(proxy.url, "/", b"{}", {**KMS_SIGN, "X-Amz-Target": "TrentService.GetPublicKey"})
    assert status == 400 and json.loads(body)["__type"] == "ThrottlingException"
    assert ok == 200
    assert [t for _, t, _ in upstream.seen] == ["TrentService.GetPublicKey"]


def test_vault_sealed_and_response_phase_executes_upstream(upstream: Any) -> None:
    rules = [{"operation": "transit/sign", "fault": "error", "error": "sealed", "phase": "response"}]
    with proxy_for(upstream, rules) as proxy:
        status, body = post(proxy.url, "/v1/my-transit/sign/key1/sha2-256", b"{}", {})
    assert (status, json.loads(body)) == (503, {"errors": ["Vault is sealed"]})
    assert upstream.seen[0][0] == "/v1/my-transit/sign/key1/sha2-256"  # the backend did sign


def test_proxy_5xx_shape(upstream: Any) -> None:
    with proxy_for(upstream, [{"operation": "/sign/hash", "fault": "error", "error": "503"}]) as proxy:
        status, body = post(proxy.url, "/sign/hash", b"{}", {})
    assert status == 503 and json.loads(body)["error"]["code"] == "SIGNER_UNAVAILABLE"


def test_reset_drops_the_connection(upstream: Any) -> None:
    dropped = (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)
    with proxy_for(upstream, [{"operation": "Sign", "fault": "reset"}]) as proxy, pytest.raises(dropped):
        post(proxy.url, "/", b"{}", KMS_SIGN)
    assert upstream.seen == []


def test_timeout_holds_the_answer_until_the_client_gives_up(upstream: Any) -> None:
    with proxy_for(upstream, [{"operation": "Sign", "fault": "timeout", "ms": 3000}]) as proxy:
        start = time.monotonic()
        with pytest.raises((TimeoutError, socket.timeout)):
            post(proxy.url, "/", b"{}", KMS_SIGN, timeout=0.3)
        assert time.monotonic() - start < 2.0
    # stop() released the held handler: the proxy shut down without waiting the full 3 s
    assert time.monotonic() - start < 3.0


def test_latency_is_applied(upstream: Any) -> None:
    with proxy_for(upstream, [{"operation": "*", "fault": "latency", "ms": 200}]) as proxy:
        start = time.monotonic()
        status, _ = post(proxy.url, "/", b"{}", KMS_SIGN)
    assert status == 200 and time.monotonic() - start >= 0.2


@pytest.mark.parametrize(
    ("path", "headers", "extract"),
    [
        ("/", KMS_SIGN, lambda d: base64.b64decode(d["Signature"])),
        ("/v1/transit/sign/k", {}, lambda d: base64.b64decode(d["data"]["signature"].split(":", 2)[2])),
        ("/sign/hash", {}, lambda d: base64.urlsafe_b64decode(d["signature"] + "==")),
    ],
)
def test_corrupt_signature_flips_exactly_one_bit(
    upstream: Any, path: str, headers: dict[str, str], extract: Any
) -> None:
    rules = [{"operation": "*", "fault": "corrupt_signature"}]
    with proxy_for(upstream, rules, kind="signing-proxy") as proxy:
        status, body = post(proxy.url, path, b"{}", headers)
    assert status == 200
    assert bit_distance(extract(json.loads(body)), SIGNATURE) == 1
    assert [e.fault for e in proxy.faults()] == ["corrupt_signature"]


def test_only_http_upstreams() -> None:
    with pytest.raises(FaultProxyError):
        FaultProxy("https://127.0.0.1:1", plan_from_dict({"rules": []}))


def test_unreachable_upstream_is_a_502(upstream: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with FaultProxy(dead, plan_from_dict({"rules": []})) as proxy:
        status, _ = post(proxy.url, "/", b"{}", KMS_SIGN)
    assert status == 502
