"""A scripted KMS session run against two endpoints (our moto layer, LocalStack) for comparison.

Each step returns an outcome string: ``ok ...`` with the facts that matter, or ``error <Code>``.
:data:`KNOWN_DIFFERENCES` lists the steps where LocalStack 4.13.1 is known to differ from our
layer (and from real AWS), with the reason; ``docs/emulators/aws-kms.md`` shows the table.
``python -m pytest_kmsconform.emulators.aws_kms.differential URL_A URL_B`` prints it.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

MSG = b"kmsconform differential message"
DIGEST = hashlib.sha256(MSG).digest()

# step -> why LocalStack 4.13.1 differs from our layer (our layer follows real AWS in each case)
KNOWN_DIFFERENCES: dict[str, str] = {
    "create-ed25519": "LocalStack has no ECC_NIST_EDWARDS25519 (issue #13886)",
    "sign-ed25519-raw": "no Ed25519 key on LocalStack",
    "sign-ed25519-ph-digest": "no Ed25519 key on LocalStack",
    "ed25519-raw-with-ph": "no Ed25519 key on LocalStack",
    "get-public-key-ed25519": "no Ed25519 key on LocalStack",
    "sign-ecdsa384-on-p256": "LocalStack signs; AWS raises InvalidKeyUsageException",
    "get-public-key-hmac": "LocalStack answers 200 without PublicKey; AWS raises UnsupportedOperationException",
    "enable-rotation-asymmetric": "LocalStack accepts; AWS raises UnsupportedOperationException",
    "list-key-rotations": "LocalStack: ListKeyRotations not implemented (HTTP 501)",
}

Context = dict[str, Any]
Step = Callable[[Any, Context], str]


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _local_verify(der: bytes, alg: str, message: bytes, signature: bytes) -> str:
    public = serialization.load_der_public_key(der)
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        else:
            algorithm = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[-3:]]
            if isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(signature, message, ec.ECDSA(algorithm))
            else:
                assert isinstance(public, rsa.RSAPublicKey)
                pad: padding.AsymmetricPadding = (
                    padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
                    if "PSS" in alg
                    else padding.PKCS1v15()
                )
                public.verify(signature, message, pad, algorithm)
    except InvalidSignature:
        return "local-verify:FAIL"
    return "local-verify:ok"


def _create(spec: str, usage: str, name: str) -> Step:
    def step(kms: Any, ctx: Context) -> str:
        meta = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        ctx[name] = meta["KeyId"]
        return f"ok {meta.get('KeySpec')} sign={meta.get('SigningAlgorithms')} mac={meta.get('MacAlgorithms')}"

    return step


def _sign(key: str, alg: str, message: bytes, mtype: str, check_message: bytes | None = None) -> Step:
    def step(kms: Any, ctx: Context) -> str:
        if key not in ctx:
            return "skipped: no key"
        signature = bytes(
            kms.sign(KeyId=ctx[key], Message=message, MessageType=mtype, SigningAlgorithm=alg)["Signature"]
        )
        ctx[f"sig:{key}:{alg}"] = signature
        der = bytes(kms.get_public_key(KeyId=ctx[key])["PublicKey"])
        target = message if check_message is None else check_message
        verdict = "" if alg == "ED25519_PH_SHA_512" else " " + _local_verify(der, alg, target, signature)
        return f"ok len={len(signature) if alg != 'ECDSA_SHA_256' else 'der'}{verdict}"

    return step


def _call(fn: Callable[[Any, Context], Any], show: Callable[[Any], str] = lambda r: "") -> Step:
    def step(kms: Any, ctx: Context) -> str:
        result = fn(kms, ctx)
        return f"ok {show(result)}".rstrip()

    return step


def _public_key(key: str) -> Step:
    def step(kms: Any, ctx: Context) -> str:
        if key not in ctx:
            return "skipped: no key"
        response = kms.get_public_key(KeyId=ctx[key])
        return f"ok PublicKey={len(response.get('PublicKey', b''))}B KeySpec={response.get('KeySpec')}"

    return step


SCRIPT: list[tuple[str, Step]] = [
    ("create-rsa", _create("RSA_2048", "SIGN_VERIFY", "rsa")),
    ("create-p256", _create("ECC_NIST_P256", "SIGN_VERIFY", "p256")),
    ("create-hmac", _create("HMAC_256", "GENERATE_VERIFY_MAC", "hmac")),
    ("create-symmetric", _create("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "sym")),
    ("create-ed25519", _create("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "ed")),
    ("sign-ecdsa-digest", _sign("p256", "ECDSA_SHA_256", DIGEST, "DIGEST", MSG)),
    ("sign-rsa-pkcs1-digest", _sign("rsa", "RSASSA_PKCS1_V1_5_SHA_256", DIGEST, "DIGEST", MSG)),
    ("sign-rsa-pss-digest", _sign("rsa", "RSASSA_PSS_SHA_256", DIGEST, "DIGEST", MSG)),
    ("sign-rsa-pss-raw", _sign("rsa", "RSASSA_PSS_SHA_384", MSG, "RAW")),
    ("sign-ed25519-raw", _sign("ed", "ED25519_SHA_512", MSG, "RAW")),
    ("sign-ed25519-ph-digest", _sign("ed", "ED25519_PH_SHA_512", hashlib.sha512(MSG).digest(), "DIGEST")),
    ("ed25519-raw-with-ph", _sign("ed", "ED25519_PH_SHA_512", MSG, "RAW")),
    ("get-public-key-ed25519", _public_key("ed")),
    ("sign-digest-wrong-length", _sign("p256", "ECDSA_SHA_256", b"\x01" * 20, "DIGEST")),
    ("sign-ecdsa384-on-p256", _sign("p256", "ECDSA_SHA_384", MSG, "RAW")),
    ("sign-with-hmac-key", _sign("hmac", "ECDSA_SHA_256", MSG, "RAW")),
    (
        "verify-good",
        _call(
            lambda k, c: k.verify(
                KeyId=c["p256"],
                Message=DIGEST,
                MessageType="DIGEST",
                Signature=c["sig:p256:ECDSA_SHA_256"],
                SigningAlgorithm="ECDSA_SHA_256",
            ),
            lambda r: f"valid={r['SignatureValid']}",
        ),
    ),
    (
        "verify-bad",
        _call(
            lambda k, c: k.verify(
                KeyId=c["p256"],
                Message=MSG + b"!",
                Signature=c["sig:p256:ECDSA_SHA_256"],
                SigningAlgorithm="ECDSA_SHA_256",
            ),
            lambda r: f"valid={r['SignatureValid']}",
        ),
    ),
    (
        "mac-roundtrip",
        _call(
            lambda k, c: k.verify_mac(
                KeyId=c["hmac"],
                Message=MSG,
                MacAlgorithm="HMAC_SHA_256",
                Mac=k.generate_mac(KeyId=c["hmac"], Message=MSG, MacAlgorithm="HMAC_SHA_256")["Mac"],
            ),
            lambda r: f"valid={r['MacValid']}",
        ),
    ),
    (
        "verify-mac-bad",
        _call(lambda k, c: k.verify_mac(KeyId=c["hmac"], Message=MSG, MacAlgorithm="HMAC_SHA_256", Mac=b"\0" * 32)),
    ),
    (
        "mac-512-on-hmac256",
        _call(lambda k, c: k.generate_mac(KeyId=c["hmac"], Message=MSG, MacAlgorithm="HMAC_SHA_512")),
    ),
    ("get-public-key-rsa", _public_key("rsa")),
    ("get-public-key-hmac", _public_key("hmac")),
    ("rotate-on-demand-p256", _call(lambda k, c: k.rotate_key_on_demand(KeyId=c["p256"]))),
    ("rotate-on-demand-hmac", _call(lambda k, c: k.rotate_key_on_demand(KeyId=c["hmac"]))),
    ("rotate-on-demand-symmetric", _call(lambda k, c: k.rotate_key_on_demand(KeyId=c["sym"]))),
    ("enable-rotation-asymmetric", _call(lambda k, c: k.enable_key_rotation(KeyId=c["p256"]))),
    (
        "list-key-rotations",
        _call(lambda k, c: k.list_key_rotations(KeyId=c["sym"]), lambda r: f"n={len(r['Rotations'])}"),
    ),
    (
        "data-key-roundtrip",
        _call(
            lambda k, c: k.decrypt(
                CiphertextBlob=k.generate_data_key(KeyId=c["sym"], KeySpec="AES_256", EncryptionContext={"a": "b"})[
                    "CiphertextBlob"
                ],
                EncryptionContext={"a": "b"},
            ),
            lambda r: f"plaintext={len(r['Plaintext'])}B",
        ),
    ),
    (
        "decrypt-wrong-context",
        _call(
            lambda k, c: k.decrypt(
                CiphertextBlob=k.generate_data_key(KeyId=c["sym"], KeySpec="AES_256", EncryptionContext={"a": "b"})[
                    "CiphertextBlob"
                ],
                EncryptionContext={"a": "c"},
            )
        ),
    ),
    ("alias-create", _call(lambda k, c: k.create_alias(AliasName="alias/kmsconform-diff", TargetKeyId=c["p256"]))),
    ("alias-duplicate", _call(lambda k, c: k.create_alias(AliasName="alias/kmsconform-diff", TargetKeyId=c["p256"]))),
    (
        "sign-via-alias",
        _call(lambda k, c: k.sign(KeyId="alias/kmsconform-diff", Message=MSG, SigningAlgorithm="ECDSA_SHA_256")),
    ),
    ("describe-unknown", _call(lambda k, c: k.describe_key(KeyId="alias/kmsconform-missing"))),
    ("disable-p256", _call(lambda k, c: k.disable_key(KeyId=c["p256"]))),
    ("sign-disabled", _sign("p256", "ECDSA_SHA_256", MSG, "RAW")),
    ("disable-hmac", _call(lambda k, c: k.disable_key(KeyId=c["hmac"]))),
    (
        "mac-disabled",
        _call(lambda k, c: k.generate_mac(KeyId=c["hmac"], Message=MSG, MacAlgorithm="HMAC_SHA_256")),
    ),
    ("enable-p256", _call(lambda k, c: k.enable_key(KeyId=c["p256"]))),
    ("sign-reenabled", _call(lambda k, c: k.sign(KeyId=c["p256"], Message=MSG, SigningAlgorithm="ECDSA_SHA_256"))),
    ("schedule-deletion-6-days", _call(lambda k, c: k.schedule_key_deletion(KeyId=c["rsa"], PendingWindowInDays=6))),
    (
        "schedule-deletion-7-days",
        _call(
            lambda k, c: k.schedule_key_deletion(KeyId=c["rsa"], PendingWindowInDays=7),
            lambda r: f"state={r.get('KeyState')}",
        ),
    ),
    (
        "sign-pending-deletion",
        _call(lambda k, c: k.sign(KeyId=c["rsa"], Message=MSG, SigningAlgorithm="RSASSA_PSS_SHA_256")),
    ),
    ("get-public-key-pending-deletion", _public_key("rsa")),
    (
        "cancel-deletion",
        _call(
            lambda k, c: (k.cancel_key_deletion(KeyId=c["rsa"]), k.describe_key(KeyId=c["rsa"]))[1],
            lambda r: f"state={r['KeyMetadata']['KeyState']}",
        ),
    ),
]


def run(kms: Any) -> list[tuple[str, str]]:
    """Run :data:`SCRIPT` against a boto3 KMS client; ``[(step, outcome)]`` in order."""
    from botocore.exceptions import ClientError

    ctx: Context = {}
    results = []
    for name, step in SCRIPT:
        try:
            outcome = step(kms, ctx)
        except ClientError as exc:
            outcome = f"error {_code(exc)}"
        results.append((name, outcome))
    return results


def compare(ours: list[tuple[str, str]], theirs: list[tuple[str, str]]) -> list[tuple[str, str, str, bool]]:
    """``(step, ours, theirs, same)`` rows."""
    return [(a[0], a[1], b[1], a[1] == b[1]) for a, b in zip(ours, theirs, strict=True)]


def main(argv: list[str]) -> int:
    import boto3

    if len(argv) != 2:
        print("usage: python -m pytest_kmsconform.emulators.aws_kms.differential URL_OURS URL_OTHER", file=sys.stderr)
        return 2
    runs = [
        run(
            boto3.client(
                "kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
            )
        )
        for url in argv
    ]
    print("| step | ours | other | same |\n|---|---|---|---|")
    for step, a, b, same in compare(*runs):
        print(f"| {step} | {a} | {b} | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
