"""The PKCS#11 backend, through python-pkcs11 (MIT): any token, e.g. SoftHSM2 or a real HSM's module.

* Keys are token objects, generated on the token, private parts ``SENSITIVE`` and not
  ``EXTRACTABLE``: ``ed25519`` (``CKK_EC_EDWARDS``, ``CKM_EDDSA`` over the 32 digest bytes),
  ``ecdsa-p256-sha256`` (``CKK_EC`` on P-256; the digest is the SHA-256 computed on the host, signed
  with plain ``CKM_ECDSA``; the token's raw ``r || s`` becomes DER), ``rsa-sha256`` (RSA-2048,
  ``CKM_RSA_PKCS`` over the SHA-256 DigestInfo), ``rsa-pss-sha256`` (``CKM_RSA_PKCS_PSS``,
  SHA-256, MGF1-SHA256, salt 32) and ``hmac-sha256`` (a 32-byte ``CKK_GENERIC_SECRET``,
  ``CKM_SHA256_HMAC``). So signatures are the standard ones over the original message.
* A key is found by ``CKA_ID`` (8 random bytes, its ``ref``); its kid is ``<CKA_LABEL>-<CKA_ID hex>``.
  Rotation creates a new key object with the same label; revocation destroys the private (or
  secret) key object, so it can never sign again (a ``CKA_SIGN`` flag could be set back); the public
  key object stays.
* ``CKA_EC_POINT`` is read DER-wrapped (``04 len point``, as PKCS#11 specifies) or raw (as some
  tokens give it).
* The signer over one existing key is :mod:`.pkcs11_signer`. The PIN is never printed or logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..algorithms import CLASSIC, Algorithm
from ..errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedReason,
)
from ..primitives import PublicKey, verify_digest
from ..signer import BackendKey
from .pkcs11_token import NAME, SESSIONS, SPARE_LABEL, TokenSession

RSA_BITS = 2048
PSS_SALT = 32
# DER DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1)
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
ED25519_OID = "1.3.101.112"
T = TypeVar("T")

_ERROR_CODES = {
    "NoSuchKey": BackendErrorCode.NOT_FOUND,
    "KeyHandleInvalid": BackendErrorCode.NOT_FOUND,
    "ObjectHandleInvalid": BackendErrorCode.NOT_FOUND,
    "PinIncorrect": BackendErrorCode.ACCESS_DENIED,
    "UserNotLoggedIn": BackendErrorCode.ACCESS_DENIED,
    "SessionHandleInvalid": BackendErrorCode.UNAVAILABLE,
    "SessionClosed": BackendErrorCode.UNAVAILABLE,
    "DeviceRemoved": BackendErrorCode.UNAVAILABLE,
    "TokenNotPresent": BackendErrorCode.UNAVAILABLE,
    "DeviceError": BackendErrorCode.INTERNAL,
    "DeviceMemory": BackendErrorCode.INTERNAL,
    "GeneralError": BackendErrorCode.INTERNAL,
    "FunctionFailed": BackendErrorCode.INTERNAL,
    "OperationActive": BackendErrorCode.THROTTLED,
}


def _raw_point(value: bytes, length: int) -> bytes:
    """The point of ``CKA_EC_POINT``: a DER OCTET STRING around it (PKCS#11), or bare."""
    if len(value) == length:
        return value
    if len(value) == length + 2 and value[0] == 0x04 and value[1] == length:
        return value[2:]
    raise BackendError(
        f"CKA_EC_POINT of {len(value)} bytes is neither a {length}-byte point nor one in a DER OCTET STRING",
        code=BackendErrorCode.CORRUPT_RESPONSE,
        backend=NAME,
    )


def alg_for_key(key_type: str, curve: bytes | None) -> Algorithm:
    """The default algorithm of an existing key (``AUDIT_SIGNING_ALG`` overrides it for RSA)."""
    from pkcs11.util.ec import encode_named_curve_parameters

    if key_type == "EC_EDWARDS":
        return Algorithm.ED25519
    if key_type == "EC" and curve == encode_named_curve_parameters("secp256r1"):
        return Algorithm.ECDSA_P256_SHA256
    if key_type == "RSA":
        return Algorithm.RSA_SHA256
    if key_type in ("GENERIC_SECRET", "SHA256_HMAC"):
        return Algorithm.HMAC_SHA256
    raise ConfigurationError(f"a PKCS#11 {key_type} key cannot sign audit digests")


class Pkcs11Backend:
    """A :class:`~..signer.KeyBackend` on one token.

    :param module: path of the PKCS#11 module (``PKCS11_MODULE``).
    :param token_label: the token's label (``PKCS11_TOKEN_LABEL``).
    :param pin: the user PIN (``PKCS11_PIN``); kept only to join the process's shared login.
    :param softhsm_conf: ``SOFTHSM2_CONF`` to apply before the module is initialised (SoftHSM2).
    """

    name = NAME

    def __init__(
        self, module: str, token_label: str, pin: str, *, softhsm_conf: str | None = None, rsa_spare: bool = False
    ) -> None:
        self._shared: TokenSession | None = SESSIONS.acquire(module, token_label, pin, softhsm_conf=softhsm_conf)
        self.token_label = token_label
        self.rsa_spare = rsa_spare
        self._objects: dict[tuple[str, str], Any] = {}

    def __repr__(self) -> str:
        return f"Pkcs11Backend(token_label={self.token_label!r})"

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, what: str, call: Callable[[Any], T]) -> T:
        """Run ``call(session)`` under the session lock; translate errors once, here."""
        from pkcs11.exceptions import PKCS11Error

        shared = self._shared
        if shared is None:
            raise BackendError("the PKCS#11 backend is closed", code=BackendErrorCode.INVALID_STATE, backend=NAME)
        with shared.lock:
            try:
                return call(shared.session)
            except PKCS11Error as exc:
                name = type(exc).__name__
                code = _ERROR_CODES.get(name, BackendErrorCode.INVALID_REQUEST)
                raise BackendError(f"PKCS#11 {what} failed: {name}", code=code, backend=NAME, detail=name) from None

    def _object(self, key: BackendKey, object_class: str) -> Any:
        """The key object of class ``object_class`` with the key's ``CKA_ID`` (cached per backend)."""
        from pkcs11 import ObjectClass

        cached = self._objects.get((key.ref, object_class))
        if cached is not None:
            return cached
        try:
            key_id = bytes.fromhex(key.ref)
        except ValueError:
            raise UnknownKey(f"{key.ref!r} is not a PKCS#11 CKA_ID") from None
        found = self._call("lookup", lambda s: s.get_key(object_class=ObjectClass[object_class], id=key_id))
        self._objects[(key.ref, object_class)] = found
        return found

    def _signing_object(self, key: BackendKey) -> Any:
        return self._object(key, "SECRET_KEY" if key.alg is Algorithm.HMAC_SHA256 else "PRIVATE_KEY")

    # -- KeyBackend --------------------------------------------------------------------------------
    def algorithms(self) -> frozenset[Algorithm]:
        return CLASSIC  # no ML-DSA mechanism here (SoftHSM2 2.6; python-pkcs11 has no CKM_ML_DSA mapping)

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        from pkcs11 import Attribute, KeyType, Mechanism
        from pkcs11.util.ec import encode_named_curve_parameters

        key_id = secrets.token_bytes(8)
        private = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.SIGN: True}
        private[Attribute.EXTRACTABLE] = False
        public = {Attribute.TOKEN: True, Attribute.VERIFY: True}
        common: dict[str, Any] = {"id": key_id, "label": label, "store": True}
        if alg is Algorithm.HMAC_SHA256:
            template = {**private, Attribute.VERIFY: True}
            self._call(
                "key generation",
                lambda s: s.generate_key(KeyType.GENERIC_SECRET, 256, template=template, **common),
            )
        elif alg in (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256):
            self._create_rsa(key_id, label, public, private)
        elif alg in (Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256):
            edwards = alg is Algorithm.ED25519
            params = encode_named_curve_parameters(ED25519_OID if edwards else "secp256r1")
            self._call(
                "key generation",
                lambda s: s.generate_keypair(
                    KeyType.EC_EDWARDS if edwards else KeyType.EC,
                    mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN if edwards else Mechanism.EC_KEY_PAIR_GEN,
                    public_template={**public, Attribute.EC_PARAMS: params},
                    private_template=private,
                    **common,
                ),
            )
        else:
            raise UnsupportedAlgorithm(
                f"PKCS#11 backend cannot do {alg}", UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM
            )
        return BackendKey(kid=f"{label}-{key_id.hex()}", alg=alg, ref=key_id.hex())

    def _create_rsa(self, key_id: bytes, label: str, public: dict[Any, Any], private: dict[Any, Any]) -> None:
        """An RSA key pair: generated now, or (``rsa_spare``) the spare made in the background,
        given its id and label; then the next spare is started (see :class:`TokenSession`)."""
        from pkcs11 import Attribute, KeyType

        def generate(session: Any, pair_id: bytes, pair_label: str) -> None:
            session.generate_keypair(
                KeyType.RSA,
                RSA_BITS,
                id=pair_id,
                label=pair_label,
                store=True,
                public_template=public,
                private_template=private,
            )

        shared = self._shared
        spare_id = shared.take_spare(KeyType.RSA) if self.rsa_spare and shared is not None else None
        if spare_id is None:
            self._call("key generation", lambda s: generate(s, key_id, label))
        else:

            def relabel(session: Any) -> None:
                for obj in list(session.get_objects({Attribute.ID: spare_id})):
                    obj[Attribute.LABEL] = label
                    obj[Attribute.ID] = key_id

            self._call("relabel", relabel)
        if self.rsa_spare and shared is not None:
            shared.refill_spare(KeyType.RSA, lambda session, pair_id: generate(session, pair_id, SPARE_LABEL))

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        from pkcs11 import MGF, Mechanism

        if len(digest) != 32:
            raise ValueError("the audit digest is 32 bytes")
        obj = self._signing_object(key)
        if key.alg is Algorithm.ED25519:
            return bytes(self._call("sign", lambda s: obj.sign(digest, mechanism=Mechanism.EDDSA)))
        if key.alg is Algorithm.ECDSA_P256_SHA256:
            raw: bytes = self._call("sign", lambda s: obj.sign(digest, mechanism=Mechanism.ECDSA))
            if len(raw) != 64:
                raise BackendError(
                    f"CKM_ECDSA on P-256 gave {len(raw)} bytes, not r || s (64)",
                    code=BackendErrorCode.CORRUPT_RESPONSE,
                    backend=NAME,
                )
            return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        if key.alg is Algorithm.RSA_SHA256:
            info = SHA256_DIGEST_INFO + digest
            return bytes(self._call("sign", lambda s: obj.sign(info, mechanism=Mechanism.RSA_PKCS)))
        if key.alg is Algorithm.RSA_PSS_SHA256:
            param = (Mechanism.SHA256, MGF.SHA256, PSS_SALT)
            pss = self._call(
                "sign", lambda s: obj.sign(digest, mechanism=Mechanism.RSA_PKCS_PSS, mechanism_param=param)
            )
            return bytes(pss)
        return bytes(self._call("sign", lambda s: obj.sign(digest, mechanism=Mechanism.SHA256_HMAC)))

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        """HMAC: asked of the token (``C_Verify``); asymmetric: checked under the token's public key."""
        from pkcs11 import Mechanism

        if key.alg is Algorithm.HMAC_SHA256:
            if len(signature) != 32:
                raise InvalidSignature(f"an HMAC-SHA256 tag is 32 bytes, got {len(signature)}")
            obj = self._signing_object(key)
            if not self._call("verify", lambda s: obj.verify(digest, signature, mechanism=Mechanism.SHA256_HMAC)):
                raise InvalidSignature(f"the token rejects the MAC under {key.kid}")
            return
        public = self.public_key(key)
        assert public is not None
        verify_digest(key.alg, public, digest, signature)

    def public_key(self, key: BackendKey) -> PublicKey | None:
        from pkcs11 import Attribute

        if key.alg is Algorithm.HMAC_SHA256:
            return None
        obj = self._object(key, "PUBLIC_KEY")
        if key.alg in (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256):
            modulus, exponent = self._call("read", lambda s: (obj[Attribute.MODULUS], obj[Attribute.PUBLIC_EXPONENT]))
            return rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")).public_key()
        point: bytes = self._call("read", lambda s: obj[Attribute.EC_POINT])
        if key.alg is Algorithm.ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(_raw_point(point, 32))
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _raw_point(point, 65))
        except ValueError:
            raise BackendError(
                "CKA_EC_POINT is not a P-256 point", code=BackendErrorCode.CORRUPT_RESPONSE, backend=NAME
            ) from None

    def disable(self, key: BackendKey) -> None:
        """Revocation: destroy the private (or secret) key object; the public key object stays."""
        obj = self._signing_object(key)
        self._call("destroy", lambda s: obj.destroy())
        self._objects.pop((key.ref, "SECRET_KEY" if key.alg is Algorithm.HMAC_SHA256 else "PRIVATE_KEY"), None)

    def close(self) -> None:
        shared, self._shared = self._shared, None
        self._objects.clear()
        if shared is not None:
            SESSIONS.release(shared)

    # -- existing keys -----------------------------------------------------------------------------
    def find_key(self, label: str, key_id: bytes | None = None) -> tuple[BackendKey, Algorithm]:
        """The one signing key labelled ``label`` (and with ``key_id``, when given), and its default
        algorithm. Raises :class:`ConfigurationError` when none or several match."""
        from pkcs11 import Attribute, ObjectClass

        def matching(session: Any) -> list[tuple[bytes, str, bytes | None]]:
            found = []
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY):
                attrs: dict[Any, Any] = {Attribute.CLASS: object_class, Attribute.LABEL: label}
                if key_id is not None:
                    attrs[Attribute.ID] = key_id
                for obj in session.get_objects(attrs):
                    curve = obj[Attribute.EC_PARAMS] if obj.key_type.name in ("EC", "EC_EDWARDS") else None
                    found.append((bytes(obj[Attribute.ID]), obj.key_type.name, curve))
            return found

        found = self._call("lookup", matching)
        if len(found) != 1:
            which = f"label {label!r}" + (f" and CKA_ID {key_id.hex()}" if key_id is not None else "")
            raise ConfigurationError(f"{len(found)} signing keys on token {self.token_label} have {which}; need one")
        (object_id, key_type, curve) = found[0]
        alg = alg_for_key(key_type, curve)
        return BackendKey(kid=f"{label}-{object_id.hex()}", alg=alg, ref=object_id.hex()), alg


# -- factories -----------------------------------------------------------------------------------
def required_variable(env: Mapping[str, str], name: str) -> str:
    """``env[name]``, which must be set and not blank."""
    value = env.get(name)
    if value is None or not value.strip():
        raise ConfigurationError(f"{name} is not set")
    return value


SPARE_VARIABLE = "KMSCONFORM_PKCS11_RSA_SPARE"


def backend_from_env(env: Mapping[str, str]) -> Pkcs11Backend:
    """``PKCS11_MODULE``, ``PKCS11_TOKEN_LABEL``, ``PKCS11_PIN`` (required); ``SOFTHSM2_CONF`` if set;
    ``KMSCONFORM_PKCS11_RSA_SPARE=1`` (set for the throw-away SoftHSM2 token) makes RSA keys ahead."""
    module = required_variable(env, "PKCS11_MODULE")
    label = required_variable(env, "PKCS11_TOKEN_LABEL")
    pin = required_variable(env, "PKCS11_PIN")
    spare = env.get(SPARE_VARIABLE) == "1"
    return Pkcs11Backend(module, label, pin, softhsm_conf=env.get("SOFTHSM2_CONF") or None, rsa_spare=spare)


def key_backend_from_env(env: Mapping[str, str], namespace: str) -> Pkcs11Backend:
    """A :class:`Pkcs11Backend` from the token variables (keys are told apart by random ``CKA_ID``s,
    so the namespace is not needed in their labels)."""
    return backend_from_env(env)
