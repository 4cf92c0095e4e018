"""The wire, below the client: raw HTTP/JSON on the REST front, and both fronts' method tables
checked against what the installed google-cloud-kms client sends."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import time
from typing import Any

import google_crc32c
import pytest
from google.cloud.kms_v1.services.key_management_service.transports import rest_base
from google.cloud.kms_v1.services.key_management_service.transports.grpc import KeyManagementServiceGrpcTransport
from pytest_kmsconform.emulators.gcp_kms import GcpKmsEmulator
from pytest_kmsconform.emulators.gcp_kms.errors import HTTP_STATUS, Code
from pytest_kmsconform.emulators.gcp_kms.rest_routes import HTTP_RULES
from pytest_kmsconform.emulators.gcp_kms.service import RPCS

ALT = "%24alt=json%3Benum-encoding%3Dint"


def request(emu: GcpKmsEmulator, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", int(emu.url.rsplit(":", 1)[1]), timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def ed_version(emulator: GcpKmsEmulator) -> str:
    loc = emulator.location_name
    assert request(emulator, "POST", f"/v1/{loc}/keyRings?keyRingId=wire&{ALT}", {})[0] == 200
    status, key = request(
        emulator,
        "POST",
        f"/v1/{loc}/keyRings/wire/cryptoKeys?cryptoKeyId=ed&{ALT}",
        {"purpose": 5, "versionTemplate": {"algorithm": 40}},
    )
    assert status == 200 and key["purpose"] == 5 and key["versionTemplate"]["algorithm"] == 40
    name = f"{key['name']}/cryptoKeyVersions/1"
    for _ in range(100):
        if request(emulator, "GET", f"/v1/{name}?{ALT}")[1].get("state") == 1:
            return name
        time.sleep(0.01)
    raise AssertionError("never ENABLED")


def test_json_mapping_int64_strings_base64_and_enums(emulator: GcpKmsEmulator, ed_version: str) -> None:
    data = b"hello"
    crc = google_crc32c.value(data)
    status, doc = request(
        emulator,
        "POST",
        f"/v1/{ed_version}:asymmetricSign?{ALT}",
        {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc)},
    )
    assert status == 200
    assert doc["verifiedDataCrc32c"] is True and doc["name"] == ed_version
    signature = base64.b64decode(doc["signature"], validate=True)  # standard base64 with padding
    assert doc["signatureCrc32c"] == str(google_crc32c.value(signature))  # int64 wrapper as a JSON string
    assert doc["protectionLevel"] == 1  # enum-encoding=int
    status, named = request(emulator, "GET", f"/v1/{ed_version}?%24alt=json")
    assert named["state"] == "ENABLED" and named["algorithm"] == "EC_SIGN_ED25519"


def test_error_envelope_and_http_mapping(emulator: GcpKmsEmulator, ed_version: str) -> None:
    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    status, doc = request(emulator, "POST", f"/v1/{ed_version}:asymmetricSign?{ALT}", {"digest": {"sha256": digest}})
    assert status == 400 and doc["error"]["status"] == "INVALID_ARGUMENT" and doc["error"]["code"] == 400
    status, doc = request(emulator, "GET", f"/v1/{ed_version[:-1]}7?{ALT}")
    assert status == 404 and doc["error"]["status"] == "NOT_FOUND"
    status, doc = request(emulator, "POST", f"/v1/{ed_version}:asymmetricSign?{ALT}", {"nonsense": 1})
    assert status == 400 and "nonsense" in doc["error"]["message"]  # unknown JSON fields are refused
    status, doc = request(emulator, "DELETE", f"/v1/{ed_version}?{ALT}")
    assert status == 501 and doc["error"]["status"] == "UNIMPLEMENTED"
    status, doc = request(emulator, "GET", f"/v1/{ed_version}?%24alt=proto")
    assert status == 400
    ring = ed_version.split("/cryptoKeys/")[0]
    status, doc = request(emulator, "POST", f"/v1/{ring}/cryptoKeys?cryptoKeyId=odd&{ALT}", {"purpose": 99})
    assert status == 400 and doc["error"]["status"] == "INVALID_ARGUMENT"  # an unknown enum number


def test_disabled_answers_precondition_details(emulator: GcpKmsEmulator, ed_version: str) -> None:
    status, _ = request(emulator, "PATCH", f"/v1/{ed_version}?updateMask=state&{ALT}", {"state": 2})
    assert status == 200
    status, doc = request(emulator, "GET", f"/v1/{ed_version}/publicKey?{ALT}")
    assert status == 400 and doc["error"]["status"] == "FAILED_PRECONDITION"
    assert doc["error"]["message"] == f"{ed_version} is not enabled, current state is: DISABLED."
    assert doc["error"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.PreconditionFailure"
    assert request(emulator, "PATCH", f"/v1/{ed_version}?updateMask=state&{ALT}", {"state": 1})[0] == 200


def test_canonical_http_status_table() -> None:
    """google/rpc/code.proto's mapping (what google-api-core's from_http_status reverses)."""
    from google.api_core import exceptions as gexc

    for code, status in HTTP_STATUS.items():
        if code in (Code.OK, Code.DATA_LOSS, Code.UNKNOWN, Code.ABORTED, Code.OUT_OF_RANGE, Code.FAILED_PRECONDITION):
            continue
        assert gexc.exception_class_for_grpc_status(_grpc(code)).code == status, code


def _grpc(code: Code) -> Any:
    import grpc

    return next(s for s in grpc.StatusCode if s.value[0] == int(code))


def test_http_rules_match_the_client() -> None:
    """Every HTTP rule here is one the installed client sends for that RPC, and vice versa."""
    ours = {(rpc, method.lower(), uri, body) for rpc, method, uri, body in HTTP_RULES}
    theirs = set()
    for rpc, _, _, _ in HTTP_RULES:
        base = getattr(rest_base._BaseKeyManagementServiceRestTransport, f"_Base{rpc}", None)
        assert base is not None, rpc
        for option in base._get_http_options():
            if option["uri"].startswith(
                (
                    "/v1/{resource=projects/*/locations/*/keyRings/*/importJobs",
                    "/v1/{resource=projects/*/locations/*/ekm",
                )
            ):
                continue  # IAM on import jobs and EKM resources: out of scope
            theirs.add((rpc, option["method"], option["uri"], option.get("body")))
    assert ours == theirs


def test_grpc_methods_are_the_clients() -> None:
    """Each registered gRPC method exists in the client's stub table under the same name."""
    import inspect

    source = inspect.getsource(KeyManagementServiceGrpcTransport)
    for name in RPCS:
        assert f'"/google.cloud.kms.v1.KeyManagementService/{name}"' in source, name
