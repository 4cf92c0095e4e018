"""SIGN_ATTESTATION_CERTIFICATE: an X.509 certificate for a device key, signed by an attesting key.

The issuer is the subject of the X.509 certificate stored (as an opaque object) under the attesting
key's id; attesting key 0 is the device's own attestation key and self-signed certificate. Yubico's
key-attestation extensions (OID arc ``1.3.6.1.4.1.41482.4``) carry firmware version (.1, OCTET
STRING), serial (.2, INTEGER), origin (.3), domains (.4) and capabilities (.5) as BIT STRINGs,
object id (.6, INTEGER) and label (.9, UTF8String).
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .defs import Error
from .errors import DeviceError
from .objects import HsmObject, PrivateKey

ARC = "1.3.6.1.4.1.41482.4"


def _der(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")  # room for a sign bit
    return _der(0x02, body)


def _bits(value: int, length: int) -> bytes:
    return _der(0x03, b"\x00" + value.to_bytes(length, "big"))


def _extension(number: int, value: bytes) -> x509.Extension[x509.UnrecognizedExtension]:
    oid = x509.ObjectIdentifier(f"{ARC}.{number}")
    return x509.Extension(oid, False, x509.UnrecognizedExtension(oid, value))


CertificateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _signing(key: PrivateKey) -> tuple[CertificateKey, hashes.SHA256 | None]:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key, hashes.SHA256()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key, None
    raise DeviceError(Error.INVALID_DATA, "this attesting key cannot sign certificates")


def self_signed(key: ec.EllipticCurvePrivateKey, serial: int, now: datetime.datetime) -> x509.Certificate:
    """The device attestation certificate (attesting key 0)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"YubiHSM Attestation (simulated, {serial})")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365 * 30))
        .sign(key, hashes.SHA256())
    )


def attest(
    target: HsmObject,
    attesting: PrivateKey,
    template: x509.Certificate,
    version: tuple[int, int, int],
    serial: int,
    certificate_serial: int,
) -> bytes:
    """DER certificate for ``target``'s public key, issued by ``template``'s subject."""
    if isinstance(target.material, bytes):
        raise DeviceError(Error.INVALID_DATA, "only asymmetric keys can be attested")
    public = target.material.public_key()
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise DeviceError(Error.INVALID_DATA, "unsupported public key type")
    signer, digest = _signing(attesting)
    label = target.label.rstrip(b"\x00")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"YubiHSM Attestation id:0x{target.id:04x}")]))
        .issuer_name(template.subject)
        .public_key(public)
        .serial_number(certificate_serial)
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
    )
    extensions = [
        (1, _der(0x04, bytes(version))),
        (2, _integer(serial)),
        (3, _bits(int(target.origin), 1)),
        (4, _bits(target.domains, 2)),
        (5, _bits(target.capabilities, 8)),
        (6, _integer(target.id)),
        (9, _der(0x0C, label)),
    ]
    for number, value in extensions:
        ext = _extension(number, value)
        builder = builder.add_extension(ext.value, critical=False)
    return builder.sign(signer, digest).public_bytes(Encoding.DER)


def load_template(data: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, "the attesting key's certificate object is not X.509 DER") from None
