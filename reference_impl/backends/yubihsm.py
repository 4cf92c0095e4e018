"""The YubiHSM 2 backend, through Yubico's ``yubihsm`` library (a real device or the simulator).

* Keys are device objects: ``ed25519`` (EC_ED25519, SIGN_EDDSA), ``ecdsa-p256-sha256`` (EC_P256,
  SIGN_ECDSA), ``rsa-sha256`` / ``rsa-pss-sha256`` (RSA_2048, SIGN_PKCS / SIGN_PSS) and
  ``hmac-sha256`` (an HMAC_SHA256 object, SIGN_HMAC | VERIFY_HMAC). Key ids are
  ``<label>-0x<object id>``; rotation creates a new object.
* The 32-byte audit digest goes to the device as the pre-computed SHA-256 hash: SIGN_ECDSA,
  SIGN_PKCS1 and SIGN_PSS (MGF1-SHA256, salt 32) take a hash, so the signatures are standard ones
  over the original message. Ed25519 signs the 32 bytes as the message; HMAC MACs them.
* Revocation deletes the object. The device has no command to change an object's capabilities,
  so "stripping the sign capability" would mean re-importing the key, which needs it exportable;
  deleting is the one revocation that cannot be undone from the host. Public keys stay published
  (the key ring keeps them); an HMAC key's earlier MACs can no longer be checked online.
* Device sessions expire after 30 s of inactivity: a command that meets ``INVALID_SESSION`` opens a
  new session and is sent once more.
* :func:`~.yubihsm_log.verify_device_log` checks the digest chain of the device's audit log with
  our own code; :class:`~.yubihsm_signer.YubiHsmSigner` signs with one existing device key.
"""

from __future__ import annotations

import contextlib
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pytest_kmsconform import kinds

from ..algorithms import CLASSIC, Algorithm
from ..errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    SigningFailed,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedReason,
)
from ..primitives import PublicKey, verify_digest
from ..signer import BackendKey
from .yubihsm_log import parse_device_log_entry

if TYPE_CHECKING:
    from yubihsm.core import LogEntry as DeviceLogEntry

    from .yubihsm_signer import YubiHsmSigner

NAME = kinds.YUBIHSM
DEFAULT_URL = "http://127.0.0.1:12345"
RSA_BITS = 2048
PSS_SALT = 32
T = TypeVar("T")


# -- the KeyBackend ------------------------------------------------------------------------------
_ASYMMETRIC_ALGS = {
    Algorithm.ED25519: "EC_ED25519",
    Algorithm.ECDSA_P256_SHA256: "EC_P256",
    Algorithm.RSA_SHA256: "RSA_2048",
    Algorithm.RSA_PSS_SHA256: "RSA_2048",
}
_SIGN_CAPABILITY = {
    Algorithm.ED25519: "SIGN_EDDSA",
    Algorithm.ECDSA_P256_SHA256: "SIGN_ECDSA",
    Algorithm.RSA_SHA256: "SIGN_PKCS",
    Algorithm.RSA_PSS_SHA256: "SIGN_PSS",
}
_ERROR_CODES = {
    "OBJECT_NOT_FOUND": BackendErrorCode.NOT_FOUND,
    "INSUFFICIENT_PERMISSIONS": BackendErrorCode.ACCESS_DENIED,
    "AUTHENTICATION_FAILED": BackendErrorCode.ACCESS_DENIED,
    "SESSIONS_FULL": BackendErrorCode.THROTTLED,
    "LOG_FULL": BackendErrorCode.UNAVAILABLE,
    "INVALID_DATA": BackendErrorCode.INVALID_REQUEST,
    "WRONG_LENGTH": BackendErrorCode.INVALID_REQUEST,
    "INVALID_ID": BackendErrorCode.INVALID_REQUEST,
    "INVALID_COMMAND": BackendErrorCode.INVALID_REQUEST,
    "OBJECT_EXISTS": BackendErrorCode.INVALID_STATE,
}


def _parse_ref(ref: str) -> int:
    try:
        return int(ref, 16)
    except ValueError:
        raise UnknownKey(f"{ref!r} is not a YubiHSM object reference") from None


class YubiHsmBackend:
    """A :class:`~..signer.KeyBackend` on one YubiHSM 2 (authenticated with a symmetric key).

    :param connect: makes a ``yubihsm.YubiHsm``; called again to reconnect.
    :param auth_key_id: the authentication key object id.
    :param password: its password (K-ENC/K-MAC derived with PBKDF2 by the library).
    :param domains: the domains new keys are created in.
    """

    name = NAME

    def __init__(self, connect: Callable[[], Any], auth_key_id: int, password: str, *, domains: int = 1) -> None:
        self._connect = connect
        self._auth_key_id = auth_key_id
        self._password = password
        self.domains = domains
        self._lock = threading.RLock()
        self._hsm: Any = None
        self._session: Any = None
        self._guard(self._open)

    @classmethod
    def connect(cls, url: str, auth_key_id: int = 1, password: str = "password", **kw: Any) -> YubiHsmBackend:
        """Over the yubihsm-connector protocol at ``url``."""
        from yubihsm.core import YubiHsm

        return cls(lambda: YubiHsm.connect(url), auth_key_id, password, **kw)

    @classmethod
    def over(
        cls, backend_factory: Callable[[], Any], auth_key_id: int = 1, password: str = "password", **kw: Any
    ) -> YubiHsmBackend:
        """Over an in-process ``yubihsm`` backend object (``transceive``/``close``), e.g. the simulator's."""
        from yubihsm.core import YubiHsm

        return cls(lambda: YubiHsm(backend_factory()), auth_key_id, password, **kw)

    # -- plumbing --------------------------------------------------------------------------------
    def _open(self) -> None:
        self._hsm = self._connect()
        self._session = self._hsm.create_session_derived(self._auth_key_id, self._password)

    def _guard(self, call: Callable[[], T]) -> T:
        """Run ``call``; translate library errors once, here, into :class:`BackendError`."""
        from yubihsm.defs import ERROR
        from yubihsm.exceptions import (
            YubiHsmAuthenticationError,
            YubiHsmConnectionError,
            YubiHsmDeviceError,
            YubiHsmInvalidResponseError,
        )

        with self._lock:
            for attempt in (1, 2):
                try:
                    return call()
                except YubiHsmDeviceError as exc:
                    if exc.code == ERROR.INVALID_SESSION and attempt == 1:
                        self._open()  # the device expired the idle session
                        continue
                    code = _ERROR_CODES.get(exc.code.name, BackendErrorCode.INTERNAL)
                    raise BackendError(str(exc), code=code, backend=self.name, detail=exc.code.name) from None
                except YubiHsmAuthenticationError:
                    raise BackendError(
                        "YubiHSM authentication failed", code=BackendErrorCode.ACCESS_DENIED, backend=self.name
                    ) from None
                except YubiHsmConnectionError as exc:
                    raise BackendError(
                        f"YubiHSM unreachable: {exc}", code=BackendErrorCode.UNAVAILABLE, backend=self.name
                    ) from None
                except YubiHsmInvalidResponseError as exc:
                    raise BackendError(
                        f"YubiHSM response rejected: {exc}", code=BackendErrorCode.CORRUPT_RESPONSE, backend=self.name
                    ) from None
            raise BackendError(
                "YubiHSM session could not be re-opened", code=BackendErrorCode.UNAVAILABLE, backend=self.name
            )

    def _send(self, command: str, payload: bytes) -> bytes:
        from yubihsm.defs import COMMAND

        result: bytes = self._guard(lambda: self._session.send_secure_cmd(COMMAND[command], payload))
        return result

    # -- KeyBackend --------------------------------------------------------------------------------
    def algorithms(self) -> frozenset[Algorithm]:
        return CLASSIC  # the YubiHSM 2 has no ML-DSA

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        from yubihsm.defs import ALGORITHM, CAPABILITY
        from yubihsm.objects import AsymmetricKey, HmacKey

        # Labels are 40 bytes of UTF-8 on the device; cut on a character boundary.
        device_label = label.encode()[:40].decode(errors="ignore")
        obj: Any
        if alg is Algorithm.HMAC_SHA256:
            caps = CAPABILITY.SIGN_HMAC | CAPABILITY.VERIFY_HMAC
            obj = self._guard(
                lambda: HmacKey.generate(self._session, 0, device_label, self.domains, caps, ALGORITHM.HMAC_SHA256)
            )
        elif alg in _ASYMMETRIC_ALGS:
            cap, algorithm = CAPABILITY[_SIGN_CAPABILITY[alg]], ALGORITHM[_ASYMMETRIC_ALGS[alg]]
            obj = self._guard(
                lambda: AsymmetricKey.generate(self._session, 0, device_label, self.domains, cap, algorithm)
            )
        else:
            raise UnsupportedAlgorithm(f"YubiHSM cannot do {alg}", UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM)
        return BackendKey(kid=f"{label}-0x{obj.id:04x}", alg=alg, ref=f"{obj.id:#06x}")

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        object_id = struct.pack("!H", _parse_ref(key.ref))
        if len(digest) != 32:
            raise ValueError("the audit digest is 32 bytes")
        if key.alg is Algorithm.ED25519:
            return self._send("SIGN_EDDSA", object_id + digest)
        if key.alg is Algorithm.ECDSA_P256_SHA256:
            return self._send("SIGN_ECDSA", object_id + digest)
        if key.alg is Algorithm.RSA_SHA256:
            return self._send("SIGN_PKCS1", object_id + digest)
        if key.alg is Algorithm.RSA_PSS_SHA256:
            from yubihsm.defs import ALGORITHM

            return self._send("SIGN_PSS", object_id + struct.pack("!BH", ALGORITHM.RSA_MGF1_SHA256, PSS_SALT) + digest)
        return self._send("SIGN_HMAC", object_id + digest)

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        """HMAC: asked of the device (VERIFY_HMAC); asymmetric: checked under the device's public key."""
        if key.alg is Algorithm.HMAC_SHA256:
            if len(signature) != 32:
                raise InvalidSignature(f"an HMAC-SHA256 tag is 32 bytes, got {len(signature)}")
            ok = self._send("VERIFY_HMAC", struct.pack("!H", _parse_ref(key.ref)) + signature + digest)
            if ok != b"\x01":
                raise InvalidSignature(f"the YubiHSM rejects the MAC under {key.kid}")
            return
        public = self.public_key(key)
        assert public is not None
        verify_digest(key.alg, public, digest, signature)

    def public_key(self, key: BackendKey) -> PublicKey | None:
        if key.alg is Algorithm.HMAC_SHA256:
            return None
        from yubihsm.objects import AsymmetricKey

        obj: Any = AsymmetricKey(self._session, _parse_ref(key.ref))
        public = self._guard(lambda: obj.get_public_key())
        if not isinstance(public, ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise SigningFailed(f"unexpected public key type {type(public).__name__}")
        return public

    def disable(self, key: BackendKey) -> None:
        """Revocation: delete the object (see the module docstring for why not strip capabilities)."""
        from yubihsm.defs import OBJECT

        object_type = OBJECT.HMAC_KEY if key.alg is Algorithm.HMAC_SHA256 else OBJECT.ASYMMETRIC_KEY
        self._send("DELETE_OBJECT", struct.pack("!HB", _parse_ref(key.ref), object_type))

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                from yubihsm.exceptions import YubiHsmError

                # Best effort: the device expires an unclosed session by itself.
                with contextlib.suppress(YubiHsmError):
                    self._session.close()
                self._session = None
            if self._hsm is not None:
                self._hsm.close()
                self._hsm = None

    # -- device audit log ------------------------------------------------------------------------
    def audit_log(self) -> list[DeviceLogEntry]:
        """The device's unconsumed audit log entries, parsed by our own code."""
        raw = self._send("GET_LOG_ENTRIES", b"")
        if len(raw) < 5 or len(raw) != 5 + raw[4] * 32:
            raise BackendError("malformed GET_LOG_ENTRIES reply", code=BackendErrorCode.CORRUPT_RESPONSE, backend=NAME)
        return [parse_device_log_entry(raw[5 + i * 32 : 37 + i * 32]) for i in range(raw[4])]

    def enable_command_audit(
        self, commands: Sequence[str] = ("SIGN_EDDSA", "SIGN_ECDSA", "SIGN_PKCS1", "SIGN_PSS", "SIGN_HMAC")
    ) -> None:
        """Turn on the device's audit of ``commands`` (COMMAND names)."""
        from yubihsm.defs import AUDIT, COMMAND

        self._guard(lambda: self._session.set_command_audit({COMMAND[c]: AUDIT.ON for c in commands}))

    def object_info(self, object_id: int, hmac_key: bool | None = None) -> Any:
        """The ``ObjectInfo`` of key ``object_id``: an HMAC key, an asymmetric key, or (``None``)
        whichever of the two exists. Ids are per object type, so both may exist: that is a
        :class:`ConfigurationError` (the caller must say which)."""
        from yubihsm.objects import AsymmetricKey, HmacKey

        def info(cls: Any) -> Any:
            try:
                return self._guard(lambda: cls(self._session, object_id).get_info())
            except BackendError as exc:
                if exc.code is not BackendErrorCode.NOT_FOUND or hmac_key is not None:
                    raise
                return None

        if hmac_key is not None:
            return info(HmacKey if hmac_key else AsymmetricKey)
        found = [i for i in (info(AsymmetricKey), info(HmacKey)) if i is not None]
        if len(found) == 2:
            raise ConfigurationError(
                f"YubiHSM object id {object_id:#06x} is both an asymmetric and an HMAC key; set AUDIT_SIGNING_ALG"
            )
        if not found:
            raise BackendError(
                f"no asymmetric or HMAC key {object_id:#06x}", code=BackendErrorCode.NOT_FOUND, backend=self.name
            )
        return found[0]


# -- factories -----------------------------------------------------------------------------------
def _int_env(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name)
    if not text:
        if default is None:
            raise ConfigurationError(f"{name} is not set")
        return default
    try:
        value = int(text, 0)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer object id, got {text!r}") from None
    if not 0 < value <= 0xFFFE:
        raise ConfigurationError(f"{name} must be in 1..0xfffe, got {text!r}")
    return value


def backend_from_env(env: Mapping[str, str]) -> YubiHsmBackend:
    """``YUBIHSM_CONNECTOR_URL`` (required), ``YUBIHSM_AUTH_KEY_ID`` (default 1), ``YUBIHSM_PASSWORD`` (required)."""
    url = env.get("YUBIHSM_CONNECTOR_URL")
    if not url:
        raise ConfigurationError("YUBIHSM_CONNECTOR_URL is not set")
    password = env.get("YUBIHSM_PASSWORD")
    if not password:
        raise ConfigurationError("YUBIHSM_PASSWORD is not set")
    return YubiHsmBackend.connect(url, _int_env(env, "YUBIHSM_AUTH_KEY_ID", 1), password)


def key_backend_from_env(env: Mapping[str, str], namespace: str) -> YubiHsmBackend:
    """A :class:`YubiHsmBackend` through the connector of :func:`backend_from_env` (object labels carry the key ids)."""
    return backend_from_env(env)


def backend_over(factory: Callable[[], Any], env: Mapping[str, str]) -> YubiHsmBackend:
    """A :class:`YubiHsmBackend` over ``factory`` (an in-process ``yubihsm`` backend object), with
    ``YUBIHSM_AUTH_KEY_ID`` (default 1) and ``YUBIHSM_PASSWORD`` from ``env``."""
    return YubiHsmBackend.over(factory, _int_env(env, "YUBIHSM_AUTH_KEY_ID", 1), env.get("YUBIHSM_PASSWORD", ""))


def signer_from_env(env: Mapping[str, str]) -> YubiHsmSigner:
    """A signer over an existing key: the connector variables plus ``AUDIT_SIGNING_YUBIHSM_KEY_ID``
    (required) and ``AUDIT_SIGNING_ALG`` (default: from the object's algorithm; RSA gives rsa-sha256)."""
    from .yubihsm_signer import YubiHsmSigner

    key_id = _int_env(env, "AUDIT_SIGNING_YUBIHSM_KEY_ID")
    alg = None
    if env.get("AUDIT_SIGNING_ALG"):
        try:
            alg = Algorithm.parse(env["AUDIT_SIGNING_ALG"])
        except UnsupportedAlgorithm as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG: {exc}") from None
    backend = backend_from_env(env)
    try:
        return YubiHsmSigner(backend, key_id, alg)
    except Exception:
        backend.close()
        raise
