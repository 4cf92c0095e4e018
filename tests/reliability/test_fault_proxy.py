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


def test_only_http_and_https_upstreams(tmp_path: Any) -> None:
    plan = plan_from_dict({"rules": []})
    with pytest.raises(FaultProxyError, match="http:// or https://"):
        FaultProxy("ftp://127.0.0.1:1", plan)
    with pytest.raises(FaultProxyError, match="upstream_ca is for an https"):
        FaultProxy("http://127.0.0.1:1", plan, upstream_ca=tmp_path / "ca.pem")
    with pytest.raises(FaultProxyError, match="cannot load the upstream CA bundle"):
        FaultProxy("https://127.0.0.1:1", plan, upstream_ca=tmp_path / "missing.pem")


def test_https_upstream_is_verified_and_fronted_with_the_proxys_own_ca() -> None:
    """In front of an HTTPS backend the proxy speaks HTTPS with a CA of its own; an upstream that does
    not verify against ``upstream_ca`` (here: the system's trust store) is a 502 from the proxy."""
    import ssl
    import urllib.request

    from pytest_kmsconform.emulators.azure_keyvault import KeyVaultEmulator

    with KeyVaultEmulator(rsa_pool=0) as emulator:
        for ca, expected in ((emulator.ca_file, 401), (None, 502)):  # 401: the vault's auth challenge
            with FaultProxy(emulator.url, plan_from_dict({"rules": []}), upstream_ca=ca) as proxy:
                assert proxy.url.startswith("https://") and proxy.ca_file is not None
                trust = ssl.create_default_context(cafile=str(proxy.ca_file))
                request = urllib.request.Request(f"{proxy.url}/keys?api-version=7.5")
                try:
                    status = urllib.request.urlopen(request, context=trust, timeout=30).status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                assert status == expected
                with pytest.raises(urllib.error.URLError):  # the proxy's CA is not the emulator's
                    urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(emulator.ca_file)))


def test_unreachable_upstream_is_a_502(upstream: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with FaultProxy(dead, plan_from_dict({"rules": []})) as proxy:
        status, _ = post(proxy.url, "/", b"{}", KMS_SIGN)
    assert status == 502
