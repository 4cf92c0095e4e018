"""Benchmark 5: wall time of the full conformance run of the reference implementation over every
embedded backend (``kmsconform run``), cold (a new process each time), sequential and with ``-n 2``.
Goal: <= 60 s on a 2-core machine. The closing ``N passed, M failed`` line is kept as a note, so a
fast run that fails checks is visible as such."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_lib import BenchResult


def _kmsconform() -> list[str]:
    exe = shutil.which("kmsconform", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "pytest_kmsconform.cli"]


def _timed_run(extra: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([*_kmsconform(), "run", "-q", *extra], capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    closing = lines[-1] if lines else f"no output (exit {done.returncode}): {done.stderr[-500:]}"
    return elapsed, closing


def run(repeats: int) -> list[BenchResult]:
    sequential = [_timed_run([]) for _ in range(repeats)]
    parallel = [_timed_run(["-n", "2"]) for _ in range(repeats)]
    seq = statistics.median(t for t, _ in sequential)
    par = statistics.median(t for t, _ in parallel)
    return [
        BenchResult(
            "full reference run, sequential",
            seq,
            "s",
            "goal",
            60.0,
            goal="<= 60 s",
            notes={"closing_lines": [c for _, c in sequential]},
        ),
        BenchResult(
            "full reference run, -n 2",
            par,
            "s",
            "full reference run, sequential",
            seq,
            goal="<= 60 s",
            notes={"closing_lines": [c for _, c in parallel]},
        ),
    ]
