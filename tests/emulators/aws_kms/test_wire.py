"""The wire layer answers every KMS operation of AWS's service model, whatever the input, with JSON,
never HTTP 500 or moto's HTML page: modelled operations with AWS's errors, the rest with our
declared gap (HTTP 501). Sent raw over HTTP and through botocore in process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from pytest_kmsconform.emulators.aws_kms import KmsEmulator, fidelity_kms
from pytest_kmsconform.emulators.aws_kms.handlers import GAPS
from pytest_kmsconform.emulators.aws_kms.validation import java_set_order, service_model

OPERATIONS = sorted(service_model().operation_names)
AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0000"
)


def _odd_bodies(operation: str) -> list[tuple[str, bytes]]:
    shape = service_model().operation_model(operation).input_shape
    members = dict(shape.members) if shape is not None else {}
    wrong_type = {
        name: ("x" if m.type_name in ("integer", "long", "boolean") else 12345) for name, m in members.items()
    }
    plausible: dict[str, Any] = {}
    for name, member in members.items():
        kind = member.type_name
        if kind == "string":
            plausible[name] = member.enum[0] if member.enum else "alias/kmsconform-none"
        elif kind == "blob":
            plausible[name] = "AAAA"
        elif kind in ("integer", "long"):
            plausible[name] = 0
        elif kind == "boolean":
            plausible[name] = True
        elif kind == "list":
            plausible[name] = []
        elif kind in ("map", "structure"):
            plausible[name] = {}
        elif kind == "timestamp":
            plausible[name] = "not a date"
    nulls = dict.fromkeys(members)
    bodies = [
        ("empty-object", b"{}"),
        ("no-body", b""),
        ("not-json", b"{not json"),
        ("list", b"[]"),
        ("null", b"null"),
        ("wrong-types", json.dumps(wrong_type).encode()),
        ("plausible", json.dumps(plausible).encode()),
        ("nulls", json.dumps(nulls).encode()),
    ]
    if "KeyId" in members:
        bodies.append(("bad-key-arn", json.dumps({**plausible, "KeyId": "arn:aws:kms:xx:1:key/1"}).encode()))
    return bodies


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with KmsEmulator() as emu:
        yield emu.url


def _post(url: str, operation: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url + "/",
        data=body,
        method="POST",
        headers={
            "X-Amz-Target": f"TrentService.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": AUTH,
            "X-Amz-Date": "20260101T000000Z",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_operation_answers_500_over_http(endpoint: str, operation: str) -> None:
    for label, body in _odd_bodies(operation):
        status, answer = _post(endpoint, operation, body)
        assert status < 500 or (status == 501 and operation in GAPS), (label, status, answer[:200])
        parsed = json.loads(answer)  # JSON, never an HTML page
        if status >= 400:
            assert parsed["__type"], (label, parsed)


def test_unknown_operation_is_a_json_error(endpoint: str) -> None:
    status, answer = _post(endpoint, "NoSuchOperation", b"{}")
    assert (status, json.loads(answer)["__type"]) == (400, "UnknownOperationException")


@pytest.mark.parametrize("operation", sorted(GAPS))
def test_operations_we_do_not_model_are_declared_gaps(endpoint: str, operation: str) -> None:
    status, answer = _post(endpoint, operation, b"{}")
    assert (status, json.loads(answer)["__type"]) == (501, "KmsConformEmulatorGap")


@pytest.fixture(scope="module")
def unvalidated_client() -> Iterator[Any]:
    with mock_aws(), fidelity_kms():
        yield boto3.client(
            "kms",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(parameter_validation=False, retries={"max_attempts": 1}),
        )


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_operation_crashes_in_process(unvalidated_client: Any, operation: str) -> None:
    name = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
    method = getattr(unvalidated_client, name)
    # only what botocore can serialise (wrong JSON types and invalid JSON: the HTTP test above)
    for label, body in _odd_bodies(operation):
        if label not in ("empty-object", "plausible", "bad-key-arn"):
            continue
        params = {k: (0 if v == "not a date" else v) for k, v in json.loads(body).items()}
        try:
            method(**params)
        except ClientError as error:
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status < 500 or (status == 501 and operation in GAPS), (label, error.response["Error"])


def test_java_set_order_matches_aws_recording() -> None:
    # LocalStack's AWS-validated snapshot of test_invalid_generate_mac[HMAC_256-INVALID]
    assert java_set_order(["HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"]) == [
        "HMAC_SHA_384",
        "HMAC_SHA_256",
        "HMAC_SHA_224",
        "HMAC_SHA_512",
    ]
