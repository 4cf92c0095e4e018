"""Cryptographic operations of the model: sign, public keys, MACs, encryption, random bytes.

They take the request messages (field presence matters: an unset ``digest_crc32c`` is not a
zero one) and answer the response messages. Rules, as the service documents them:

* a wrong ``*_crc32c`` is INVALID_ARGUMENT; a right one is echoed as ``verified_*_crc32c = true``;
  every answer carries the CRC32C of what it returns (``signature_crc32c``, ``pem_crc32c``, ...);
* ``digest`` and ``data`` are exclusive; the ``Digest`` field must be the algorithm's hash and of
  its length; ``data`` is hashed here for hashed algorithms; Ed25519, raw PKCS#1 and pure ML-DSA
  need ``data``, external-mu ML-DSA a 64-byte ``digest.external_mu``;
* only ENABLED versions of a key of the right purpose are used (FAILED_PRECONDITION otherwise);
* PQC public keys need ``public_key_format=NIST_PQC`` (or PEM/DER); unspecified is an error.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

import google_crc32c
from cryptography.exceptions import InvalidTag
from google.cloud import kms_v1 as k

from . import names
from .algorithms import DIGEST_SIZES, Purpose, Scheme
from .errors import enum_value, invalid, precondition
from .models import KmsModel, State

MAX_DATA = 64 * 1024
"""Largest ``data``/``plaintext``/``additional_authenticated_data`` the service accepts (64 KiB)."""
Format = k.PublicKey.PublicKeyFormat
_CIPHERTEXT_MAGIC = b"KC\x01"


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def _has(message: object, field: str) -> bool:
    return bool(type(message).pb(message).HasField(field))  # type: ignore[attr-defined]


def _check_crc(message: object, field: str, value: bytes, what: str) -> bool:
    """Whether ``field`` was given (and then it must match ``value``)."""
    if not _has(message, field):
        return False
    if int(getattr(message, field)) != crc32c(value):
        raise invalid(f"The checksum in field {field} did not match the data in field {what}.")
    return True


def _check_size(value: bytes, what: str) -> None:
    if len(value) > MAX_DATA:
        raise invalid(f"The field {what} is {len(value)} bytes; the maximum is {MAX_DATA} bytes.")


def public_key(model: KmsModel, req: k.GetPublicKeyRequest) -> k.PublicKey:
    version = model.version(req.name)
    if not version.spec.is_asymmetric:
        raise precondition(f"{version.spec.name} keys have no public key.")
    if version.resource.state != State.ENABLED or version.material is None:
        raise model.not_enabled(version)
    fmt = enum_value(req, "public_key_format", Format)
    material = version.material
    out = k.PublicKey(
        name=req.name,
        algorithm=version.spec.alg,
        protection_level=version.resource.protection_level,
        public_key_format=fmt,
    )
    if fmt == Format.PUBLIC_KEY_FORMAT_UNSPECIFIED:
        if version.spec.is_pqc:
            raise invalid(f"Algorithm {version.spec.name} needs public_key_format NIST_PQC (or PEM, DER).")
        out.pem = material.public_pem()
        out.pem_crc32c = crc32c(out.pem.encode("ascii"))
        return out
    if fmt == Format.PEM:
        data = material.public_pem().encode("ascii")
    elif fmt == Format.DER:
        data = material.public_der()
    elif fmt == Format.NIST_PQC and version.spec.is_pqc:
        data = material.public_raw()
    else:
        raise invalid(f"public_key_format {fmt.name} is not supported for {version.spec.name}.")
    out.public_key = k.ChecksummedData(data=data, crc32c_checksum=crc32c(data))
    return out


def asymmetric_sign(model: KmsModel, req: k.AsymmetricSignRequest) -> k.AsymmetricSignResponse:
    version = model.enabled(req.name, Purpose.ASYMMETRIC_SIGN, "signing")
    spec = version.spec
    has_digest, has_data = _has(req, "digest"), bool(req.data)
    if has_digest and has_data:
        raise invalid("Only one of digest or data may be set.")
    if _has(req, "digest_crc32c") and _has(req, "data_crc32c"):
        raise invalid("Only one of digest_crc32c or data_crc32c may be set.")
    verified_data = verified_digest = False
    if has_digest:
        kind = k.Digest.pb(req.digest).WhichOneof("digest")
        if spec.hash is None or kind != spec.hash:
            wanted = f"digest.{spec.hash}" if spec.hash else "data (this algorithm does not take a digest)"
            raise invalid(f"The algorithm {spec.name} requires {wanted}; got digest.{kind}.")
        message = bytes(getattr(req.digest, kind))
        if len(message) != DIGEST_SIZES[kind]:
            raise invalid(f"The digest.{kind} is {len(message)} bytes; {spec.name} needs {DIGEST_SIZES[kind]}.")
        verified_digest = _check_crc(req, "digest_crc32c", message, "digest")
        prehashed = True
    else:
        if not has_data:
            raise invalid("One of digest or data must be set.")
        if spec.scheme is Scheme.ML_DSA_MU:
            raise invalid(f"The algorithm {spec.name} requires digest.external_mu, not data.")
        data = bytes(req.data)
        _check_size(data, "data")
        verified_data = _check_crc(req, "data_crc32c", data, "data")
        if _has(req, "digest_crc32c"):
            raise invalid("digest_crc32c is set but no digest was given.")
        message, prehashed = data, False
    try:
        assert version.material is not None
        signature = version.material.sign(message, prehashed=prehashed)
    except ValueError as exc:  # raw PKCS#1 data longer than the modulus allows
        raise invalid(f"The data cannot be signed with {spec.name}: {exc}.") from None
    return k.AsymmetricSignResponse(
        signature=signature,
        signature_crc32c=crc32c(signature),
        verified_digest_crc32c=verified_digest,
        verified_data_crc32c=verified_data,
        name=req.name,
        protection_level=version.resource.protection_level,
    )


def mac_sign(model: KmsModel, req: k.MacSignRequest) -> k.MacSignResponse:
    version = model.enabled(req.name, Purpose.MAC, "MAC signing")
    data = bytes(req.data)
    _check_size(data, "data")
    verified = _check_crc(req, "data_crc32c", data, "data")
    assert version.material is not None
    mac = version.material.mac(data)
    return k.MacSignResponse(
        name=req.name,
        mac=mac,
        mac_crc32c=crc32c(mac),
        verified_data_crc32c=verified,
        protection_level=version.resource.protection_level,
    )


def mac_verify(model: KmsModel, req: k.MacVerifyRequest) -> k.MacVerifyResponse:
    version = model.enabled(req.name, Purpose.MAC, "MAC verification")
    data, given = bytes(req.data), bytes(req.mac)
    _check_size(data, "data")
    verified_data = _check_crc(req, "data_crc32c", data, "data")
    verified_mac = _check_crc(req, "mac_crc32c", given, "mac")
    assert version.material is not None
    success = hmac.compare_digest(version.material.mac(data), given)
    return k.MacVerifyResponse(
        name=req.name,
        success=success,
        verified_data_crc32c=verified_data,
        verified_mac_crc32c=verified_mac,
        verified_success_integrity=success,
        protection_level=version.resource.protection_level,
    )


def encrypt(model: KmsModel, req: k.EncryptRequest) -> k.EncryptResponse:
    key_name, number = names.key_or_version(req.name)
    with model.lock:
        key = model.key(key_name)
        if key.purpose != Purpose.ENCRYPT_DECRYPT:
            raise precondition(f"CryptoKey {key_name} has purpose {key.purpose.name}; Encrypt needs ENCRYPT_DECRYPT.")
        if number is None:
            if key.primary is None:
                raise precondition(f"CryptoKey {key_name} has no primary version.")
            number = key.primary
        version = model.enabled(f"{key_name}/cryptoKeyVersions/{number}", Purpose.ENCRYPT_DECRYPT, "encryption")
    plaintext, aad = bytes(req.plaintext), bytes(req.additional_authenticated_data)
    _check_size(plaintext, "plaintext")
    _check_size(aad, "additional_authenticated_data")
    verified_pt = _check_crc(req, "plaintext_crc32c", plaintext, "plaintext")
    verified_aad = _check_crc(req, "additional_authenticated_data_crc32c", aad, "additional_authenticated_data")
    assert version.material is not None
    header = _CIPHERTEXT_MAGIC + struct.pack(">I", number)
    ciphertext = header + version.material.seal(plaintext, _aad(key_name, header, aad))
    return k.EncryptResponse(
        name=version.resource.name,
        ciphertext=ciphertext,
        ciphertext_crc32c=crc32c(ciphertext),
        verified_plaintext_crc32c=verified_pt,
        verified_additional_authenticated_data_crc32c=verified_aad,
        protection_level=version.resource.protection_level,
    )


def _aad(key_name: str, header: bytes, aad: bytes) -> bytes:
    # binds the ciphertext to its key and version, as the service's opaque format does
    return hashlib.sha256(key_name.encode()).digest() + header + aad


def decrypt(model: KmsModel, req: k.DecryptRequest) -> k.DecryptResponse:
    key = model.key(req.name)
    if key.purpose != Purpose.ENCRYPT_DECRYPT:
        raise precondition(f"CryptoKey {req.name} has purpose {key.purpose.name}; Decrypt needs ENCRYPT_DECRYPT.")
    ciphertext, aad = bytes(req.ciphertext), bytes(req.additional_authenticated_data)
    _check_crc(req, "ciphertext_crc32c", ciphertext, "ciphertext")
    _check_crc(req, "additional_authenticated_data_crc32c", aad, "additional_authenticated_data")
    bad = invalid("Decryption failed: the ciphertext is invalid.")
    if len(ciphertext) < 7 + 28 or not ciphertext.startswith(_CIPHERTEXT_MAGIC):
        raise bad
    header, number = ciphertext[:7], struct.unpack(">I", ciphertext[3:7])[0]
    if number not in key.versions:
        raise bad
    version = model.enabled(f"{req.name}/cryptoKeyVersions/{number}", Purpose.ENCRYPT_DECRYPT, "decryption")
    assert version.material is not None
    try:
        plaintext = version.material.open(ciphertext[7:], _aad(req.name, header, aad))
    except InvalidTag:
        raise bad from None
    return k.DecryptResponse(
        plaintext=plaintext,
        plaintext_crc32c=crc32c(plaintext),
        used_primary=number == key.primary,
        protection_level=version.resource.protection_level,
    )


def asymmetric_decrypt(model: KmsModel, req: k.AsymmetricDecryptRequest) -> k.AsymmetricDecryptResponse:
    version = model.enabled(req.name, Purpose.ASYMMETRIC_DECRYPT, "asymmetric decryption")
    ciphertext = bytes(req.ciphertext)
    verified = _check_crc(req, "ciphertext_crc32c", ciphertext, "ciphertext")
    assert version.material is not None
    try:
        plaintext = version.material.oaep_decrypt(ciphertext)
    except ValueError:
        raise invalid("Decryption failed: verify that 'name' refers to the correct CryptoKeyVersion.") from None
    return k.AsymmetricDecryptResponse(
        plaintext=plaintext,
        plaintext_crc32c=crc32c(plaintext),
        verified_ciphertext_crc32c=verified,
        protection_level=version.resource.protection_level,
    )


def generate_random_bytes(model: KmsModel, req: k.GenerateRandomBytesRequest) -> k.GenerateRandomBytesResponse:
    names.location(req.location)
    if enum_value(req, "protection_level", k.ProtectionLevel) != k.ProtectionLevel.HSM:
        raise invalid("GenerateRandomBytes supports protection_level HSM only.")
    if not 8 <= req.length_bytes <= 1024:
        raise invalid(f"length_bytes must be between 8 and 1024, got {req.length_bytes}.")
    data = os.urandom(req.length_bytes)
    return k.GenerateRandomBytesResponse(data=data, data_crc32c=crc32c(data))
