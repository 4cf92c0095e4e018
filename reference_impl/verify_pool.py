"""The parallel driver of archive verification: batches of record lines checked on a process pool.

Each worker builds its own :class:`~.verifier.Verifier` from the key set once, then parses,
hashes, verifies and links the records of each batch it is given
(:meth:`~.verifier.Verifier.check_lines`); the parent reads and digests the lines and joins the
segments in order (:meth:`~.findings.ChainState.join`).
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from .findings import ChainState, Segment

if TYPE_CHECKING:
    from .verifier import Verifier

_WORKER: Verifier | None = None


def _init_worker(jwks: dict[str, Any], hmac_secrets: dict[str, bytes]) -> None:
    from .verifier import Verifier

    global _WORKER
    _WORKER = Verifier(jwks, hmac_secrets=hmac_secrets)


def _run_lines(start: int, lines: list[bytes]) -> Segment:
    assert _WORKER is not None
    return _WORKER.check_lines(start, lines)


def _context() -> multiprocessing.context.BaseContext:
    """Fork when it is safe (Linux, this process has one thread): workers start in milliseconds with
    everything imported. Otherwise a fork server that imports this module once for all workers."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, f"{__package__}.verifier"])
        return ctx
    return multiprocessing.get_context("spawn")


class VerifierPool:
    """Batches of record lines checked on a process pool, at most ``2 * workers`` in flight.

    This process reads and hashes the lines and joins the segments; workers parse, hash, verify and
    link the records of a batch.
    """

    def __init__(self, jwks: dict[str, Any], hmac_secrets: dict[str, bytes], workers: int) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_context(),
            initializer=_init_worker,
            initargs=(jwks, hmac_secrets),
        )
        self._inflight: list[tuple[int, Future[Segment]]] = []
        self._limit = 2 * workers

    def submit(self, start: int, lines: list[bytes], chain: ChainState) -> None:
        while len(self._inflight) >= self._limit:
            self._collect(chain)
        self._inflight.append((start, self._executor.submit(_run_lines, start, lines)))

    def _collect(self, chain: ChainState) -> None:
        start, future = self._inflight.pop(0)
        chain.join(start, future.result())

    def drain(self, chain: ChainState) -> None:
        while self._inflight:
            self._collect(chain)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
