"""The suites' rendezvous (``suites/_rendezvous.py``): it ends early only when nobody else can arrive.

Each case has a cap far above anything it should need (60 s), and asserts *how* the wait ended, not
how long it took: a detector that failed to see the others blocked would end at the cap (``CAP``),
one that mistook a busy thread for a blocked one would end ``SETTLED`` before it arrived.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from pytest_kmsconform.suites._rendezvous import Activity, Ending, Rendezvous, wait_or_settle

CAP_S = 60.0

pytestmark = pytest.mark.skipif(not Activity.available(), reason="no per-thread schedstat in /proc here")


def _busy(rounds: int) -> None:
    data = b"x"
    for _ in range(rounds):
        data = hashlib.sha256(data).digest()


@pytest.fixture
def blocked_thread() -> Iterator[threading.Lock]:
    """A thread that waits on a lock the test holds (as a second appender waits for the write lock)."""
    lock = threading.Lock()
    lock.acquire()
    entered = threading.Event()

    def waiter() -> None:
        entered.set()
        with lock:
            pass

    thread = threading.Thread(target=waiter)
    thread.start()
    entered.wait()
    try:
        yield lock
    finally:
        lock.release()
        thread.join()


def test_settles_when_the_only_other_thread_is_blocked(blocked_thread: threading.Lock) -> None:
    cond = threading.Condition()
    with cond:
        assert wait_or_settle(cond, lambda: False, CAP_S) is Ending.SETTLED


def test_waits_for_a_thread_that_is_still_working() -> None:
    cond = threading.Condition()
    arrived = []

    def worker() -> None:
        _busy(300_000)  # a long way to the signer, all of it on the CPU (or waiting for one)
        with cond:
            arrived.append(True)
            cond.notify_all()

    thread = threading.Thread(target=worker)
    with cond:
        thread.start()
        ending = wait_or_settle(cond, lambda: bool(arrived), CAP_S)
    thread.join()
    assert ending is Ending.MET


def test_waits_for_a_child_process_that_is_still_working() -> None:
    """The work of a ``cmd:`` implementation happens in a child process: it counts as activity."""
    cond = threading.Condition()
    done = []
    child = subprocess.Popen(
        [sys.executable, "-c", "import hashlib\nd=b'x'\nfor _ in range(300000): d=hashlib.sha256(d).digest()"]
    )

    def reaper() -> None:
        child.wait()  # blocked on the child: only the child's CPU says that work goes on
        with cond:
            done.append(True)
            cond.notify_all()

    thread = threading.Thread(target=reaper)
    with cond:
        thread.start()
        ending = wait_or_settle(cond, lambda: bool(done), CAP_S)
    thread.join()
    assert ending is Ending.MET


def test_a_full_round_passes_together_and_a_short_one_breaks(blocked_thread: threading.Lock) -> None:
    full = Rendezvous(2, CAP_S)
    results: list[bool] = []
    other = threading.Thread(target=lambda: results.append(full.arrive()))
    other.start()
    results.append(full.arrive())
    other.join()
    assert results == [True, True]

    short = Rendezvous(3, CAP_S)
    assert short.arrive() is False  # the third party is blocked elsewhere: the round cannot fill
    assert short.broken
    assert short.arrive() is False  # broken: later arrivals pass at once
