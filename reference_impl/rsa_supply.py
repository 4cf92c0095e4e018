"""Fresh RSA private keys, made ahead of need on a background thread and each handed out once.

An RSA-2048 key costs 20-150 ms of CPU to generate, and a conformance run makes a few hundred of
them (every rotation, revocation and new emulator key). OpenSSL releases the GIL while it
generates, so a filler thread moves that work onto a core the run leaves idle. Nothing is shared:
a key leaves the supply exactly once (popped under the lock) and the supply forgets it, because one
key handed to two rings would let a revoked key's signature verify under its successor. A forked
child starts with an empty supply for the same reason (it would otherwise hand out its parent's
spares a second time).

The filler runs only after :func:`keep_ready` (the conformance plugin calls it when a run starts);
without it :func:`take` simply generates, so a one-off ``kmsconform keygen`` makes one key, not five.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading

from cryptography.hazmat.primitives.asymmetric import rsa

RSA_EXPONENT = 65537
FILLER_NICENESS = 10
"""How much lower the filler thread's CPU priority is (Linux ``setpriority`` on its own thread id):
when every core is busy (``-n 2`` on two cores) the run's own work goes first."""


def _generate(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=bits)


class RsaSupply:
    """Spare RSA keys by size. Thread-safe; :meth:`take` never returns a key twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spares: dict[int, collections.deque[rsa.RSAPrivateKey]] = {}
        self._targets: dict[int, int] = {}
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._filler: threading.Thread | None = None
        self.made_ahead = 0
        """Keys the filler has made (for tests and the profile in docs/performance.md)."""

    def take(self, bits: int) -> rsa.RSAPrivateKey:
        """A key nobody else has: a spare when one is ready, else a new one made now."""
        with self._lock:
            spares = self._spares.get(bits)
            key = spares.popleft() if spares else None
            if bits in self._targets:
                self._wanted.set()
        return key if key is not None else _generate(bits)

    def keep_ready(self, bits: int, count: int) -> None:
        """Keep ``count`` spare keys of ``bits`` ready from now on (0 stops making them)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if bits < 1024:
            raise ValueError(f"RSA keys of {bits} bits are not made here (at least 1024)")
        with self._lock:
            if count:
                self._targets[bits] = count
                self._spares.setdefault(bits, collections.deque())
            else:
                self._targets.pop(bits, None)
            start = self._filler is None and bool(self._targets)
            if start:
                self._stopping.clear()
                self._filler = threading.Thread(target=self._fill, name="kmsconform-rsa-supply", daemon=True)
            self._wanted.set()
        if start:
            assert self._filler is not None
            self._filler.start()

    def target(self, bits: int) -> int:
        """How many spare ``bits``-bit keys are kept ready (0: none)."""
        with self._lock:
            return self._targets.get(bits, 0)

    def stop(self) -> None:
        """Stop the filler (the key being made is finished first) and drop every spare."""
        with self._lock:
            filler, self._filler = self._filler, None
            self._targets.clear()
            self._stopping.set()
            self._wanted.set()
        if filler is not None and filler is not threading.current_thread():
            filler.join()
        self._forget()

    @property
    def filler_native_id(self) -> int | None:
        """The OS thread id of the running filler, if one runs."""
        filler = self._filler
        return filler.native_id if filler is not None else None

    def spares(self, bits: int) -> int:
        with self._lock:
            return len(self._spares.get(bits, ()))

    def _forget(self) -> None:
        with self._lock:
            self._spares.clear()

    def _short_of(self) -> int | None:
        with self._lock:
            short = next((b for b, n in self._targets.items() if len(self._spares[b]) < n), None)
            if short is None:
                self._wanted.clear()
            return short

    def _fill(self) -> None:
        _lower_own_priority()
        while not self._stopping.is_set():
            bits = self._short_of()
            if bits is None:
                self._wanted.wait()
                continue
            key = _generate(bits)
            with self._lock:
                if self._stopping.is_set() or bits not in self._targets:
                    continue
                self._spares[bits].append(key)
                self.made_ahead += 1

    def _after_fork_in_child(self) -> None:
        # the parent's filler thread does not exist here, and its spares are the parent's to hand out
        self._lock = threading.Lock()
        self._spares.clear()
        self._targets.clear()
        self._filler = None
        self._wanted = threading.Event()
        self._stopping = threading.Event()


def _lower_own_priority() -> None:
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None:
        return
    with contextlib.suppress(OSError):  # on Linux a thread id names one thread: only the filler is lowered
        setpriority(os.PRIO_PROCESS, threading.get_native_id(), FILLER_NICENESS)


SUPPLY = RsaSupply()
"""The process's one supply (emulators in the process and the reference signer share it)."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=SUPPLY._after_fork_in_child)


def take(bits: int) -> rsa.RSAPrivateKey:
    """A fresh RSA key of ``bits`` bits that no other caller has been given."""
    return SUPPLY.take(bits)


def keep_ready(bits: int = 2048, count: int = 4) -> None:
    """Start (or resize) the background making of spare ``bits``-bit keys."""
    SUPPLY.keep_ready(bits, count)
