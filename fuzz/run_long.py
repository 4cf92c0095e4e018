"""Long fuzz runs without atheris: N pseudo-random inputs per target (seeded), with a mix of random
bytes, mutations of earlier inputs and, for JSON targets, random JSON documents. Prints one JSON
line per target (inputs, seconds, inputs/s, failures) and exits non-zero on any contract violation.

    nice -n 19 python fuzz/run_long.py [--inputs 100000] [--seed 1] [TARGET ...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from typing import Any

from pytest_kmsconform import fuzzing

JSON_TARGETS = {"canonical", "jwks"}


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 2**53, 2**53 + 1, -(2**63), rng.randrange(-(10**20), 10**20)])
    if kind == 3:
        return rng.choice([0.0, -0.0, 1e-7, 1e21, 5e-324, 1.7976931348623157e308, rng.uniform(-1e6, 1e6)])
    if kind in (4, 5):
        alphabet = 'ab\u00e9\u20ac\U0001f600\x00\x1f"\\/ kty crv x y n e kid alg'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["keys", "kty", "crv", "x", "y", "n", "e", "kid", "alg", "status", "use", "not_before", "d", "k"]
    return {
        rng.choice(keys) if rng.random() < 0.8 else str(rng.random()): random_json(rng, depth + 1)
        for _ in range(rng.randrange(5))
    }


def next_input(rng: random.Random, name: str, pool: list[bytes]) -> bytes:
    roll = rng.random()
    if name in JSON_TARGETS and roll < 0.5:
        doc = random_json(rng)
        if name == "jwks" and rng.random() < 0.7:
            doc = {"keys": [doc if isinstance(doc, dict) else {"kty": doc}]}
        try:
            return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        except (ValueError, UnicodeEncodeError):
            return b"{}"
    if pool and roll < 0.8:
        return fuzzing.Mutator(rng.randbytes(16)).mutate(rng.choice(pool))
    return rng.randbytes(rng.randrange(0, 512))


def run(name: str, inputs: int, seed: int) -> dict[str, Any]:
    target = fuzzing.TARGETS[name]
    rng = random.Random(f"{seed}/{name}")
    pool: list[bytes] = []
    failures: list[str] = []
    start = time.perf_counter()
    for i in range(inputs):
        data = next_input(rng, name, pool)
        try:
            target(data)
        except Exception:
            failures.append(f"input {i} {data[:80]!r}: {traceback.format_exc(limit=3)}")
            if len(failures) >= 5:
                break
        if len(pool) < 256 and rng.random() < 0.05:
            pool.append(data)
    elapsed = time.perf_counter() - start
    return {
        "target": name,
        "inputs": i + 1,
        "seconds": round(elapsed, 1),
        "per_s": round((i + 1) / elapsed),
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("targets", nargs="*", default=sorted(fuzzing.TARGETS))
    args = parser.parse_args()
    bad = 0
    for name in args.targets:
        result = run(name, args.inputs, args.seed)
        bad += len(result["failures"])
        print(json.dumps(result), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
