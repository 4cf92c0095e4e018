"""Bounded retry with exponential backoff and full jitter, for calls to a signing backend.

Only :class:`~.errors.BackendError` with ``retryable`` true (throttled, unavailable, timeout,
internal) is retried; anything else (a disabled key, a bad request, a corrupted signature caught by
:class:`~.keyring.RingSigner`) is raised at once. Attempts and total time are both bounded; when
they run out :class:`RetriesExhausted` is raised, carrying the last error. Sleep, clock and
randomness are injectable so tests run without waiting.

Wrap the backend (``RetryingKeyBackend``), not the signer: the ring then still checks each
signature it gets, and a retried sign call can never duplicate an audit record, because the record
is only written after a signature came back.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .algorithms import Algorithm
from .errors import BackendError, KmsConformError
from .primitives import PublicKey
from .signature import Signature
from .signer import BackendKey, DelegatingSigner, KeyBackend, Signer

T = TypeVar("T")


class RetriesExhausted(KmsConformError):
    """Every allowed attempt failed with a retryable error (or the deadline passed).

    :param last_error: the error of the last attempt.
    :param attempts: how many attempts were made.
    :param elapsed_s: time spent, sleeps included.
    """

    def __init__(self, message: str, *, last_error: BackendError, attempts: int, elapsed_s: float) -> None:
        super().__init__(message)
        self.last_error = last_error
        self.attempts = attempts
        self.elapsed_s = elapsed_s


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    :param max_attempts: attempts in total, the first included (1 means no retry).
    :param base_delay_s: the backoff ceiling before the first retry; it doubles (``multiplier``)
        each retry up to ``max_delay_s``; the actual sleep is uniform in ``[0, ceiling]`` (full jitter).
    :param deadline_s: no retry starts if its sleep would end after this much time since the first call.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0
    multiplier: float = 2.0
    deadline_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.deadline_s < 0 or self.multiplier < 1:
            raise ValueError("delays and deadline must be >= 0 and multiplier >= 1")

    def ceiling(self, retry: int) -> float:
        """The backoff ceiling before retry number ``retry`` (1-based)."""
        return float(min(self.max_delay_s, self.base_delay_s * self.multiplier ** (retry - 1)))


class Retrier:
    """Runs calls under a :class:`RetryPolicy`.

    :param sleep: injectable sleep; :param clock: injectable monotonic clock;
    :param rng: injectable randomness for the jitter.
    :param on_retry: called with (attempt number, error, sleep seconds) before each sleep.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_retry: Callable[[int, BackendError, float], None] | None = None,
    ) -> None:
        self.policy = policy if policy is not None else RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._on_retry = on_retry

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried on retryable backend errors; raises :class:`RetriesExhausted` at the bound."""
        start = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except BackendError as exc:
                if not exc.retryable:
                    raise
                elapsed = self._clock() - start
                if attempt >= self.policy.max_attempts:
                    raise RetriesExhausted(
                        f"{exc.backend}: gave up after {attempt} attempts ({exc.code.value})",
                        last_error=exc,
                        attempts=attempt,
                        elapsed_s=elapsed,
                    ) from exc
                delay = self._rng.uniform(0, self.policy.ceiling(attempt))
                if elapsed + delay > self.policy.deadline_s:
                    raise RetriesExhausted(
                        f"{exc.backend}: deadline of {self.policy.deadline_s}s reached after {attempt} attempts "
                        f"({exc.code.value})",
                        last_error=exc,
                        attempts=attempt,
                        elapsed_s=elapsed,
                    ) from exc
                if self._on_retry is not None:
                    self._on_retry(attempt, exc, delay)
                self._sleep(delay)


class RetryingKeyBackend:
    """A ``KeyBackend`` whose idempotent calls are retried; ``create_key`` is not (it would add keys)."""

    def __init__(self, inner: KeyBackend, retrier: Retrier | None = None) -> None:
        self.inner = inner
        self.retrier = retrier if retrier is not None else Retrier()
        self.name = inner.name

    def algorithms(self) -> frozenset[Algorithm]:
        return self.inner.algorithms()

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        return self.inner.create_key(alg, label, previous)

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        return self.retrier.call(lambda: self.inner.sign(key, digest))

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        self.retrier.call(lambda: self.inner.verify(key, digest, signature))

    def public_key(self, key: BackendKey) -> PublicKey | None:
        return self.retrier.call(lambda: self.inner.public_key(key))

    def disable(self, key: BackendKey) -> None:
        self.retrier.call(lambda: self.inner.disable(key))

    def close(self) -> None:
        self.inner.close()


class RetryingSigner(DelegatingSigner):
    """A :class:`~.signer.Signer` whose calls are retried (for signers that are not key-ring based,
    such as the signing-proxy client); the wrapped signer still checks what it returns."""

    def __init__(self, inner: Signer, retrier: Retrier | None = None) -> None:
        super().__init__(inner)
        self.retrier = retrier if retrier is not None else Retrier()

    @property
    def kid(self) -> str:
        return self.retrier.call(lambda: self.inner.kid)

    def sign_digest(self, digest: bytes) -> Signature:
        return self.retrier.call(lambda: self.inner.sign_digest(digest))

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.retrier.call(lambda: self.inner.verify_signature(digest, signature))

    def jwks(self) -> dict[str, Any]:
        return self.retrier.call(self.inner.jwks)
