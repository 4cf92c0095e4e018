"""The in-process hook: :class:`FaultyKeyBackend` wraps any ``KeyBackend`` and applies a plan.

Operation names for a call are the generic method name (``sign``, ``verify``, ``create_key``,
``public_key``, ``disable``) and the wire name the wrapped backend would use, so one plan works
over HTTP and in process: for ``aws-kms`` ``Sign``/``GenerateMac``, ``Verify``/``VerifyMac``,
``CreateKey``, ``GetPublicKey``, ``DisableKey``; for ``vault`` ``transit/sign``/``transit/hmac``,
``transit/verify``, ``transit/keys``, ``transit/rotate``; for ``yubihsm`` the device command
(``SIGN_EDDSA``, ``SIGN_ECDSA``, ``SIGN_PKCS1``, ``SIGN_PSS``, ``SIGN_HMAC``, ``VERIFY_HMAC``,
``GENERATE_ASYMMETRIC_KEY``, ``GENERATE_HMAC_KEY``, ``GET_PUBLIC_KEY``, ``DELETE_OBJECT``); for
``signing-proxy`` the path (``/sign/hash``, ``/verify``, ``/keys``).

Faults become what the backend's client would raise: :class:`BackendError` with the error's class
(``ThrottlingException`` -> ``THROTTLED``), ``reset`` -> ``UNAVAILABLE``, ``timeout`` -> ``TIMEOUT``
after waiting ``ms``; ``corrupt_signature`` flips one bit of the returned signature or MAC.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendError, BackendErrorCode
from pytest_kmsconform.reference_impl.primitives import PublicKey
from pytest_kmsconform.reference_impl.signer import BackendKey, KeyBackend

from .catalog import AWS_KMS, CATALOG, SIGNING_PROXY, VAULT, YUBIHSM, error_class
from .plan import FaultKind, FaultPlan, Phase

_YUBIHSM_SIGN = {
    Algorithm.ED25519: "SIGN_EDDSA",
    Algorithm.ECDSA_P256_SHA256: "SIGN_ECDSA",
    Algorithm.RSA_SHA256: "SIGN_PKCS1",
    Algorithm.RSA_PSS_SHA256: "SIGN_PSS",
    Algorithm.HMAC_SHA256: "SIGN_HMAC",
}


def wire_operation(kind: str, method: str, alg: Algorithm | None, *, rotating: bool = False) -> str | None:
    """The wire name of a ``KeyBackend`` method on backend ``kind`` (``None`` if it has none)."""
    hmac = alg is Algorithm.HMAC_SHA256
    if kind == AWS_KMS:
        return {
            "sign": "GenerateMac" if hmac else "Sign",
            "verify": "VerifyMac" if hmac else "Verify",
            "create_key": "CreateKey",
            "public_key": "GetPublicKey",
            "disable": "DisableKey",
        }.get(method)
    if kind == VAULT:
        return {
            "sign": "transit/hmac" if hmac else "transit/sign",
            "verify": "transit/verify",
            "create_key": "transit/rotate" if rotating else "transit/keys",
            "public_key": "transit/keys",
            "disable": "transit/keys",
        }.get(method)
    if kind == YUBIHSM:
        if method == "sign":
            return _YUBIHSM_SIGN.get(alg) if alg is not None else None
        return {
            "verify": "VERIFY_HMAC",
            "create_key": "GENERATE_HMAC_KEY" if hmac else "GENERATE_ASYMMETRIC_KEY",
            "public_key": "GET_PUBLIC_KEY",
            "disable": "DELETE_OBJECT",
        }.get(method)
    if kind == SIGNING_PROXY:
        return {"sign": "/sign/hash", "verify": "/verify", "public_key": "/keys"}.get(method)
    return None


def flip_bit(value: bytes, choose: Callable[[int], int]) -> bytes:
    """``value`` with one (seeded) bit flipped."""
    if not value:
        return value
    bit = choose(len(value) * 8)
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


class FaultyKeyBackend:
    """A ``KeyBackend`` that injects ``plan``'s faults into ``inner``.

    :param inner: the real backend.
    :param plan: the fault plan.
    :param kind: the backend kind for rule matching and wire names (defaults to ``inner.name``).
    :param sleep: injectable sleep (latency and timeout faults).
    """

    def __init__(
        self,
        inner: KeyBackend,
        plan: FaultPlan,
        *,
        kind: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.plan = plan
        self.kind = kind if kind is not None else inner.name
        self.name = inner.name
        self._sleep = sleep

    def _error(self, name: str) -> BackendError:
        code = error_class(name, self.kind if self.kind in CATALOG and name in CATALOG[self.kind] else None)
        return BackendError(f"injected fault: {name}", code=code, backend=self.name, detail=name)

    def _call(self, method: str, alg: Algorithm | None, run: Callable[[], object], *, rotating: bool = False) -> object:
        ops = [method]
        wire = wire_operation(self.kind, method, alg, rotating=rotating)
        if wire is not None:
            ops.append(wire)
        decision = self.plan.decide(self.kind, ops)
        if decision.delay_s:
            self._sleep(decision.delay_s)
        fault = decision.fault
        if fault is None:
            return run()
        rule = fault.rule
        if rule.fault is FaultKind.CORRUPT_SIGNATURE:
            result = run()
            return flip_bit(result, self.plan.randrange) if isinstance(result, bytes) else result
        if rule.phase is Phase.RESPONSE:
            run()
        if rule.fault is FaultKind.ERROR:
            assert rule.error is not None
            raise self._error(rule.error)
        if rule.fault is FaultKind.RESET:
            raise BackendError(
                "injected fault: connection reset", code=BackendErrorCode.UNAVAILABLE, backend=self.name, detail="reset"
            )
        self._sleep(fault.delay_s)
        raise BackendError(
            "injected fault: timeout", code=BackendErrorCode.TIMEOUT, backend=self.name, detail="timeout"
        )

    def algorithms(self) -> frozenset[Algorithm]:
        return self.inner.algorithms()

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        result = self._call(
            "create_key", alg, lambda: self.inner.create_key(alg, label, previous), rotating=previous is not None
        )
        assert isinstance(result, BackendKey)
        return result

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        result = self._call("sign", key.alg, lambda: self.inner.sign(key, digest))
        assert isinstance(result, bytes)
        return result

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        self._call("verify", key.alg, lambda: self.inner.verify(key, digest, signature))

    def public_key(self, key: BackendKey) -> PublicKey | None:
        return self._call("public_key", key.alg, lambda: self.inner.public_key(key))  # type: ignore[return-value]

    def disable(self, key: BackendKey) -> None:
        self._call("disable", key.alg, lambda: self.inner.disable(key))

    def close(self) -> None:
        self.inner.close()
