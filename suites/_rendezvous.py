"""Rendezvous for the concurrency checks that end as soon as the outcome is settled, not after a cap.

KC-AUD-003 holds the first signing until a second appender signs too, and KC-POL-008 holds each
signing until eight are in flight: an implementation that lets a second caller past its lock meets
the first one here every time. A correct implementation never sends the second caller, so the wait
used to run out its whole cap (1 s per instance). It now ends as soon as nobody else *can* arrive:
every other thread of this process and of its child processes (a ``cmd:`` implementation, its
helpers) has been off the CPU and off the run queue for two windows in a row, i.e. every would-be
caller is blocked on a lock, a pipe or a sleep, not on its way. A caller that is merely slow (a
busy machine, waiting for the GIL) is running or runnable, so the wait goes on; the cap stays as a
bound, and where the kernel does not say (no ``/proc/<pid>/task/<tid>/schedstat``) the cap is the
only end, as before.

Releasing early can never make a correct implementation fail: it never forks, whatever the timing.
It could only let a wrong one pass, if its second caller stopped on something blocking between
entering the call and reaching the signer (the kernel time accounting below would see it blocked);
the readings are per thread and in nanoseconds, so that takes a real block, not a scheduling gap.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections.abc import Callable

WINDOW_S = 0.01
"""One observation window: the waiting thread sleeps this long, then reads the kernel's counters."""
QUIET_WINDOWS = 2
"""Consecutive quiet windows that settle it."""
QUIET_NS = 2_000_000
"""Run plus run-queue time, over all other threads in one window (a fifth of it), below which nothing progresses (a
blocked SQLite appender wakes for tens of microseconds per retry; a thread on its way to the signer
runs, or waits for a CPU, for most of the window)."""


def _slurp(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1024)
    finally:
        os.close(fd)


def _tids(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


class Activity:
    """How much the other threads of this process tree ran (or waited for a CPU) since the last reading.

    ``busy_ns()`` sums, over every thread of this process and of its descendants except the caller,
    the growth of the kernel's run time and run-queue time (``schedstat``), and counts a thread in
    state R or D (running, runnable, in disk I/O) as busy. (Plain ``os`` reads: one reading of a
    few dozen threads costs about a millisecond.)
    """

    def __init__(self) -> None:
        self._me = str(threading.get_native_id())
        self._last: dict[tuple[int, str], int] = {}
        self._last = self._read()[0]

    @staticmethod
    def available() -> bool:
        return os.path.exists(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/schedstat")

    def _read(self) -> tuple[dict[tuple[int, str], int], bool]:
        totals: dict[tuple[int, str], int] = {}
        running = False
        pending, seen = [os.getpid()], set()
        while pending:
            pid = pending.pop()
            if pid in seen:
                continue
            seen.add(pid)
            for tid in _tids(pid):
                base = f"/proc/{pid}/task/{tid}/"
                try:
                    if tid != self._me:
                        run_ns, wait_ns = _slurp(base + "schedstat").split()[:2]
                        state = _slurp(base + "stat").rpartition(b")")[2].split()[0]
                        totals[(pid, tid)] = int(run_ns) + int(wait_ns)
                        running = running or state in (b"R", b"D")
                    pending.extend(int(c) for c in _slurp(base + "children").split())
                except (OSError, ValueError, IndexError):
                    continue  # the thread ended meanwhile
        return totals, running

    def busy_ns(self) -> int:
        """Run and run-queue nanoseconds of the others since the last call (a large figure if one is R/D)."""
        totals, running = self._read()
        grown = sum(max(0, v - self._last.get(k, v)) for k, v in totals.items())
        self._last = totals
        return QUIET_NS * 1000 if running else grown


class Ending(enum.Enum):
    """How a wait ended: the predicate came true, nobody else could make it true, or the cap."""

    MET = "met"
    SETTLED = "settled"
    CAP = "cap"


def wait_or_settle(cond: threading.Condition, predicate: Callable[[], bool], cap_s: float) -> Ending:
    """Like ``cond.wait_for(predicate, cap_s)`` (call it holding ``cond``), but also returns once every
    other thread has been blocked for :data:`QUIET_WINDOWS` windows: then nobody can make ``predicate``
    true but this thread."""
    if predicate():
        return Ending.MET
    if not Activity.available():
        return Ending.MET if cond.wait_for(predicate, timeout=cap_s) else Ending.CAP
    deadline = time.monotonic() + cap_s
    activity = Activity()
    quiet = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return Ending.MET if predicate() else Ending.CAP
        if cond.wait_for(predicate, timeout=min(WINDOW_S, left)):
            return Ending.MET
        quiet = quiet + 1 if activity.busy_ns() < QUIET_NS else 0
        if quiet >= QUIET_WINDOWS:
            return Ending.MET if predicate() else Ending.SETTLED


class Rendezvous:
    """A cyclic barrier for ``parties`` threads that never waits longer than ``cap_s``, nor after
    every other thread is blocked (see the module). Once a round ends short, it is broken: later
    arrivals pass at once, as after a ``threading.Barrier`` timeout. The first thread to wait in a
    round watches the others; the rest just wait (a second watcher would keep the first one from
    ever seeing the process quiet)."""

    def __init__(self, parties: int, cap_s: float) -> None:
        self.parties = parties
        self.cap_s = cap_s
        self._cond = threading.Condition()
        self._count = 0
        self._generation = 0
        self._watched = -1
        self.broken = False

    def arrive(self) -> bool:
        """Wait for the round; returns whether it filled (``parties`` threads were in at once)."""
        with self._cond:
            if self.broken:
                return False
            generation = self._generation
            self._count += 1
            if self._count >= self.parties:
                self._count = 0
                self._generation += 1
                self._cond.notify_all()
                return True

            def ended() -> bool:
                return self._generation != generation or self.broken

            if self._watched != generation:
                self._watched = generation
                wait_or_settle(self._cond, ended, self.cap_s)
            else:
                self._cond.wait_for(ended, timeout=self.cap_s)
            if self._generation != generation:
                return True
            self.broken = True
            self._cond.notify_all()
            return False
