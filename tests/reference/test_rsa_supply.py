"""The RSA key supply: spares made ahead on a background thread, each key handed out once."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_kmsconform.reference_impl import rsa_supply
from pytest_kmsconform.reference_impl.rsa_supply import RsaSupply

BITS = 1024  # the supply's logic does not depend on the size; small keys keep the tests quick


def _modulus(key: rsa.RSAPrivateKey) -> int:
    return key.public_key().public_numbers().n


def _wait_for_spares(supply: RsaSupply, bits: int, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while supply.spares(bits) < count:
        assert time.monotonic() < deadline, f"the filler made {supply.spares(bits)} of {count} spares"
        time.sleep(0.01)


@pytest.fixture
def supply() -> Iterator[RsaSupply]:
    made = RsaSupply()
    yield made
    made.stop()


def test_without_keep_ready_take_makes_a_key_and_no_spares(supply: RsaSupply) -> None:
    key = supply.take(BITS)
    assert key.key_size == BITS
    time.sleep(0.05)
    assert supply.spares(BITS) == 0 and supply.made_ahead == 0


def test_filler_keeps_the_target_ready_and_refills_after_a_take(supply: RsaSupply) -> None:
    supply.keep_ready(BITS, 2)
    _wait_for_spares(supply, BITS, 2)
    assert supply.made_ahead == 2
    supply.take(BITS)
    _wait_for_spares(supply, BITS, 2)
    assert supply.made_ahead == 3
    time.sleep(0.05)
    assert supply.spares(BITS) == 2, "the filler made more than the target"


def test_no_key_is_handed_out_twice_under_concurrent_takers(supply: RsaSupply) -> None:
    supply.keep_ready(BITS, 3)
    _wait_for_spares(supply, BITS, 3)
    taken: list[rsa.RSAPrivateKey] = []
    lock = threading.Lock()

    def taker() -> None:
        for _ in range(4):
            key = supply.take(BITS)
            with lock:
                taken.append(key)

    threads = [threading.Thread(target=taker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    moduli = [_modulus(key) for key in taken]
    assert len(moduli) == 16 and len(set(moduli)) == 16, "one RSA key was handed to two callers"


def test_stop_drops_the_spares_and_ends_the_filler(supply: RsaSupply) -> None:
    supply.keep_ready(BITS, 1)
    _wait_for_spares(supply, BITS, 1)
    filler = next(t for t in threading.enumerate() if t.native_id == supply.filler_native_id)
    supply.stop()
    assert supply.spares(BITS) == 0 and supply.filler_native_id is None
    assert not filler.is_alive()


def test_count_zero_stops_making_that_size(supply: RsaSupply) -> None:
    supply.keep_ready(BITS, 1)
    _wait_for_spares(supply, BITS, 1)
    supply.keep_ready(BITS, 0)
    supply.take(BITS)
    time.sleep(0.1)
    assert supply.spares(BITS) == 0


@pytest.mark.parametrize(("bits", "count", "message"), [(2048, -1, "count must be >= 0"), (512, 1, "at least 1024")])
def test_bad_arguments_are_refused(supply: RsaSupply, bits: int, count: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        supply.keep_ready(bits, count)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_does_not_hand_out_its_parents_spares() -> None:
    rsa_supply.keep_ready(BITS, 1)
    try:
        _wait_for_spares(rsa_supply.SUPPLY, BITS, 1)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            os.close(read)
            spares = rsa_supply.SUPPLY.spares(BITS)
            der = rsa_supply.take(BITS).private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            os.write(write, spares.to_bytes(1, "big") + der)
            os.close(write)
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            reply = pipe.read()
        os.waitpid(pid, 0)
        assert reply[0] == 0, "the child inherited the parent's spare keys"
        child_key = serialization.load_der_private_key(reply[1:], None)
        assert isinstance(child_key, rsa.RSAPrivateKey)
        assert _modulus(rsa_supply.take(BITS)) != _modulus(child_key)
    finally:
        rsa_supply.SUPPLY.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is a Linux feature")
def test_the_filler_runs_at_a_lower_priority(supply: RsaSupply) -> None:
    supply.keep_ready(BITS, 1)
    _wait_for_spares(supply, BITS, 1)
    filler = supply.filler_native_id
    assert filler is not None
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert os.getpriority(os.PRIO_PROCESS, filler) == min(own + rsa_supply.FILLER_NICENESS, 19)
