"""Fault injection inside the emulator, so gRPC and REST clients see the same faults.

A :class:`FaultHook` holds a :class:`~pytest_kmsconform.emulators.faults.plan.FaultPlan` (the
project's seeded plan format; operation names are the RPC names: ``AsymmetricSign``,
``MacSign``, ``GetPublicKey``, ``CreateCryptoKey``, ...) and applies the chosen fault around one
call: ``latency`` sleeps; ``error`` answers a Cloud KMS status (the names of
:data:`.fault_vocabulary.ERRORS`, or another backend's error name translated by class:
``ThrottlingException`` -> ``RESOURCE_EXHAUSTED``); ``reset``
drops the connection without an answer; ``timeout`` holds it for ``ms`` then drops it;
``corrupt_signature`` flips one bit of ``signature``/``mac`` (leaving its CRC32C as it was, which
is what a client's integrity check must catch). ``phase: response`` runs the call first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pytest_kmsconform import kinds

from .errors import KmsApiError
from .fault_vocabulary import DEFAULT_FOR_CLASS, ERRORS, GcpError


def gcp_error(name: str) -> GcpError:
    """The Cloud KMS error a plan's ``error`` name means here (another backend's name: by class)."""
    if name in ERRORS:
        return ERRORS[name]
    from pytest_kmsconform.emulators.faults.catalog import error_class

    return ERRORS[DEFAULT_FOR_CLASS.get(error_class(name), "INTERNAL")]


class Drop(Exception):
    """Close the connection without an answer (``reset``, or ``timeout`` after its delay)."""


def flip_signature(response: Any, choose: Callable[[int], int]) -> Any:
    for field in ("signature", "mac"):
        value = getattr(response, field, None)
        if isinstance(value, bytes) and value:
            bit = choose(len(value) * 8)
            out = bytearray(value)
            out[bit // 8] ^= 1 << (bit % 8)
            setattr(response, field, bytes(out))
            break
    return response


class FaultHook:
    """Applies a plan (or nothing) around each RPC. ``plan`` may be swapped at any time."""

    def __init__(self, plan: Any = None, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.plan = plan
        self._sleep = sleep
        self.events: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _record(self, method: str, what: str) -> None:
        with self._lock:
            if len(self.events) < 100_000:
                self.events.append((method, what))

    def around(self, method: str, run: Callable[[], Any]) -> Any:
        plan = self.plan
        if plan is None:
            return run()
        from pytest_kmsconform.emulators.faults.plan import FaultKind, Phase

        decision = plan.decide(kinds.GCP_KMS, [method])
        if decision.delay_s:
            self._sleep(decision.delay_s)
        fault = decision.fault
        if fault is None:
            return run()
        rule = fault.rule
        if rule.fault is FaultKind.CORRUPT_SIGNATURE:
            self._record(method, "corrupt_signature")
            return flip_signature(run(), plan.randrange)
        if rule.phase is Phase.RESPONSE:
            run()
        if rule.fault is FaultKind.ERROR:
            error = gcp_error(str(rule.error))
            self._record(method, f"error:{error.name}")
            raise KmsApiError(error.code, error.message)
        if rule.fault is FaultKind.TIMEOUT:
            self._record(method, "timeout")
            self._sleep(fault.delay_s)
        else:
            self._record(method, "reset")
        raise Drop(rule.fault.value)
