"""Regressions of issue 15: state moto writes into its module-level ``kms_backends`` (ReplicateKey,
CloudFormation's AWS::KMS::Key / AWS::KMS::Alias) must be our layer's state, in process and over
HTTP; and ``POST /moto-api/reset`` empties a running emulator."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pytest_kmsconform.emulators.aws_kms import KmsEmulator

Kms = Any
TEMPLATE = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": []}}},
        "Alias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": "alias/from-cfn", "TargetKeyId": {"Ref": "Key"}},
        },
    }
}


def _client(kms: Kms, service: str, region: str) -> Any:
    meta = kms.client.meta
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=meta.endpoint_url if kms.mode == "fixed-http" else None,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_replica_is_visible_in_its_region(fixed: Kms) -> None:
    primary = fixed.client.create_key(MultiRegion=True, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    west = _client(fixed, "kms", "us-west-2")
    with pytest.raises(ClientError):
        west.describe_key(KeyId=primary["KeyId"])
    answer = fixed.client.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="us-west-2")
    assert answer["ReplicaKeyMetadata"]["Arn"] == primary["Arn"].replace("us-east-1", "us-west-2")
    replica = west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]
    assert replica["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert west.list_keys()["Keys"] == [{"KeyId": primary["KeyId"], "KeyArn": replica["Arn"]}]
    # related multi-Region keys share material: a replica's signature verifies with the primary
    signature = west.sign(KeyId=primary["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert fixed.client.verify(
        KeyId=primary["KeyId"], Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256"
    )["SignatureValid"]
    with pytest.raises(ClientError) as exc:  # AWS-validated snapshot: a replica is not replicated
        west.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="eu-west-1")
    assert exc.value.response["Error"]["Message"] == f"{replica['Arn']} is not a multi-region primary key."
    fixed.client.update_primary_region(KeyId=primary["KeyId"], PrimaryRegion="us-west-2")
    assert (
        west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"]
        == "PRIMARY"
    )


def test_cloudformation_key_and_alias_are_visible(fixed: Kms) -> None:
    _client(fixed, "cloudformation", "us-east-1").create_stack(StackName="kms", TemplateBody=json.dumps(TEMPLATE))
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in fixed.client.list_aliases()["Aliases"]}
    assert aliases["alias/aws/ebs"] is None  # AWS lists predefined aliases without a key until one is made
    assert "alias/from-cfn" in aliases
    meta = fixed.client.describe_key(KeyId="alias/from-cfn")["KeyMetadata"]
    assert meta["KeyId"] == aliases["alias/from-cfn"] and meta["CurrentKeyMaterialId"]
    blob = fixed.client.encrypt(KeyId="alias/from-cfn", Plaintext=b"m")["CiphertextBlob"]
    assert fixed.client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"m"


def test_moto_api_reset_over_http_empties_the_emulator() -> None:
    with KmsEmulator() as emu:
        kms = emu.client()
        kms.create_key()
        assert kms.list_keys()["Keys"]
        request = urllib.request.Request(emu.url + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        assert kms.list_keys()["Keys"] == []
        kms.create_key()  # and it keeps serving
        assert len(kms.list_keys()["Keys"]) == 1
