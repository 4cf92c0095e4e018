"""Bounded retry with backoff: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import random

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.errors import BackendError, BackendErrorCode
from pytest_kmsconform.reference_impl.retry import Retrier, RetriesExhausted, RetryingKeyBackend, RetryPolicy


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(codes: list[BackendErrorCode], value: str = "ok") -> tuple[list[int], object]:
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if codes:
            code = codes.pop(0)
            raise BackendError("boom", code=code, backend="test")
        return value

    return calls, fn


def test_throttling_is_survived_with_growing_jittered_backoff() -> None:
    t = FakeTime()
    retrier = Retrier(RetryPolicy(max_attempts=5, base_delay_s=0.1), sleep=t.sleep, clock=t.clock, rng=random.Random(1))
    calls, fn = failing([BackendErrorCode.THROTTLED] * 3)
    assert retrier.call(fn) == "ok"  # type: ignore[arg-type]
    assert calls[0] == 4
    assert len(t.sleeps) == 3
    for n, slept in enumerate(t.sleeps, start=1):
        assert 0 <= slept <= 0.1 * 2 ** (n - 1)


def test_non_retryable_errors_are_raised_at_once() -> None:
    t = FakeTime()
    retrier = Retrier(sleep=t.sleep, clock=t.clock)
    calls, fn = failing([BackendErrorCode.DISABLED])
    with pytest.raises(BackendError) as info:
        retrier.call(fn)  # type: ignore[arg-type]
    assert info.value.code is BackendErrorCode.DISABLED and calls[0] == 1 and t.sleeps == []


def test_attempts_are_bounded_and_the_last_error_is_carried() -> None:
    t = FakeTime()
    retrier = Retrier(RetryPolicy(max_attempts=3), sleep=t.sleep, clock=t.clock)
    calls, fn = failing([BackendErrorCode.UNAVAILABLE] * 2 + [BackendErrorCode.TIMEOUT] * 5)
    with pytest.raises(RetriesExhausted) as info:
        retrier.call(fn)  # type: ignore[arg-type]
    assert calls[0] == 3 and info.value.attempts == 3
    assert info.value.last_error.code is BackendErrorCode.TIMEOUT
    assert not isinstance(info.value, BackendError)  # never retried again by an outer retrier


def test_deadline_bounds_total_time() -> None:
    t = FakeTime()
    policy = RetryPolicy(max_attempts=100, base_delay_s=1.0, max_delay_s=1.0, deadline_s=5.0)
    retrier = Retrier(policy, sleep=t.sleep, clock=t.clock, rng=random.Random(2))
    calls, fn = failing([BackendErrorCode.THROTTLED] * 1000)
    with pytest.raises(RetriesExhausted, match="deadline"):
        retrier.call(fn)  # type: ignore[arg-type]
    assert t.now <= 5.0 and calls[0] < 100


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)
    assert RetryPolicy(base_delay_s=1, max_delay_s=3).ceiling(5) == 3


def test_retrying_backend_retries_sign_but_not_create_key() -> None:
    class Flaky(LocalKeyBackend):
        def __init__(self) -> None:
            super().__init__(seed=b"s")
            self.sign_failures = 2
            self.create_calls = 0

        def sign(self, key, digest):  # type: ignore[no-untyped-def]
            if self.sign_failures:
                self.sign_failures -= 1
                raise BackendError("throttled", code=BackendErrorCode.THROTTLED, backend="local")
            return super().sign(key, digest)

    inner = Flaky()
    t = FakeTime()
    backend = RetryingKeyBackend(inner, Retrier(sleep=t.sleep, clock=t.clock))
    key = backend.create_key(Algorithm.ED25519, "k", None)
    sig = backend.sign(key, b"\x01" * 32)
    backend.verify(key, b"\x01" * 32, sig)
    assert inner.sign_failures == 0 and len(t.sleeps) == 2
