"""Shared pieces of the benchmarks: the result record, timers, percentiles and the table.

Every figure is measured beside a baseline in the same run and reported as a ratio, because
these machines are shared and noisy; absolute numbers are only comparable within one run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchResult:
    """One benchmark figure beside its baseline; ``ratio`` = value / baseline_value."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    goal: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("value", "baseline_value"):
            if math.isnan(data[name]):
                data[name] = None  # not run here: the reason is in notes
        data["ratio"] = None if math.isnan(self.ratio) else round(self.ratio, 4)
        return data


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def time_calls(fn: Callable[[], object], count: int) -> list[float]:
    """Latency in seconds of ``count`` sequential calls of ``fn``."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def percentile(samples: Sequence[float], pct: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(samples: Sequence[float]) -> dict[str, float]:
    return {
        "ops_per_s": round(len(samples) / sum(samples), 1) if samples else 0.0,
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3) if samples else 0.0,
    }


def calibrate(keys: int = 40, loops: int = 15) -> dict[str, float]:
    """Machine speed now, in ms (medians): an RSA-2048 key generation (OpenSSL, the run's largest
    single cost; its time is random, hence ``keys`` of them) and a fixed pure-Python loop (the
    interpreter's speed). Taken before and after a long benchmark, a change between the two says
    the machine changed under it, not the code."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    def python_loop() -> None:
        total = 0
        for i in range(1_000_000):
            total += i % 7
        assert total > 0

    keygen = time_calls(lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), keys)
    loop = time_calls(python_loop, loops)
    return {
        "rsa2048_keygen_ms": round(statistics.median(keygen) * 1000, 1),
        "python_loop_ms": round(statistics.median(loop) * 1000, 2),
    }


def machine_description() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def not_run(name: str, unit: str, reason: str) -> BenchResult:
    """A row for something that cannot run here, with the reason (listed, never silently dropped)."""
    return BenchResult(name, float("nan"), unit, f"not run here: {reason}", float("nan"), notes={"not_run": reason})


def format_table(results: Sequence[BenchResult]) -> str:
    rows = [("benchmark", "value", "unit", "baseline", "baseline value", "ratio", "goal")]
    for r in results:
        if "not_run" in r.notes:
            rows.append((r.name, "-", r.unit, r.baseline_name, "-", "-", r.goal))
            continue
        rows.append(
            (r.name, f"{r.value:,.1f}", r.unit, r.baseline_name, f"{r.baseline_value:,.1f}", f"{r.ratio:.2f}", r.goal)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_results(path: Path, results: Sequence[BenchResult], mode: str, extra: dict[str, Any]) -> None:
    document = {
        "mode": mode,
        "machine": machine_description(),
        "benchmarks": [r.to_json() for r in results],
        **extra,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)
