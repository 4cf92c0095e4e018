"""Benchmark 5: wall time of the full conformance run of the reference implementation over every
embedded backend (``kmsconform run``), cold (a new process each time), sequential and with ``-n 2``,
with the CPU time of every process it waited for (the machine is shared: CPU is the steadier
figure) and the load average around it. Goals (issue 20): <= 60 s sequential, <= 35 s with two
workers on a 2-core machine. The closing ``N passed, M failed`` line is kept as a note, so a
fast run that fails checks is visible as such. The machine's speed is measured before and after
(:func:`bench_lib.calibrate`): the same code ran from 47 to 83 s sequentially on this VM on
different days, so a figure is only comparable beside the calibration of its day."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_lib import BenchResult, calibrate


def _kmsconform() -> list[str]:
    exe = shutil.which("kmsconform", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "pytest_kmsconform.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_run(extra: list[str]) -> tuple[float, str, float]:
    """Wall seconds, the closing line, and CPU seconds of the run and every process it waited for."""
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([*_kmsconform(), "run", "-q", *extra], capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    closing = lines[-1] if lines else f"no output (exit {done.returncode}): {done.stderr[-500:]}"
    return elapsed, closing, _children_cpu() - cpu


def run(repeats: int) -> list[BenchResult]:
    before = calibrate()
    loads = [os.getloadavg()[0]]
    sequential = [_timed_run([]) for _ in range(repeats)]
    loads.append(os.getloadavg()[0])
    parallel = [_timed_run(["-n", "2"]) for _ in range(repeats)]
    loads.append(os.getloadavg()[0])
    seq = statistics.median(t for t, _, _ in sequential)
    par = statistics.median(t for t, _, _ in parallel)
    after = calibrate()
    notes = {"loadavg_1min_before_between_after": [round(x, 2) for x in loads]}
    return [
        BenchResult(
            "machine: RSA-2048 key generation, before the runs",
            before["rsa2048_keygen_ms"],
            "ms",
            "the same, after them",
            after["rsa2048_keygen_ms"],
            notes={"before": before, "after": after},
        ),
        BenchResult(
            "machine: fixed pure-Python loop, before the runs",
            before["python_loop_ms"],
            "ms",
            "the same, after them",
            after["python_loop_ms"],
        ),
        BenchResult(
            "full reference run, sequential",
            seq,
            "s",
            "goal",
            60.0,
            goal="<= 60 s",
            notes={
                **notes,
                "closing_lines": [c for _, c, _ in sequential],
                "cpu_s": [round(c, 1) for *_, c in sequential],
            },
        ),
        BenchResult(
            "full reference run, sequential: CPU (all processes)",
            statistics.median(c for *_, c in sequential),
            "s",
            "its wall time",
            seq,
        ),
        BenchResult(
            "full reference run, -n 2",
            par,
            "s",
            "goal",
            35.0,
            goal="<= 35 s",
            notes={**notes, "closing_lines": [c for _, c, _ in parallel], "cpu_s": [round(c, 1) for *_, c in parallel]},
        ),
        BenchResult(
            "full reference run, -n 2: CPU (all processes)",
            statistics.median(c for *_, c in parallel),
            "s",
            "its wall time",
            par,
        ),
    ]
