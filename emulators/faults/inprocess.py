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

from .catalog import error_class
from .plan import FaultKind, FaultPlan, Phase
from .vocabulary import flip, vocabularies


def wire_operation(kind: str, method: str, alg: Algorithm | None, *, rotating: bool = False) -> str | None:
    """The wire name of a ``KeyBackend`` method on backend ``kind`` (``None`` if it has none)."""
    vocabulary = vocabularies().get(kind)
    return vocabulary.key_backend_operation(method, alg, rotating) if vocabulary is not None else None


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
        own = vocabularies().get(self.kind)
        code = error_class(name, self.kind if own is not None and name in own.errors else None)
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
            return flip(result, self.plan.randrange) if isinstance(result, bytes) else result
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
