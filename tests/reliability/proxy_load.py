"""Load generator for the signing proxy (run as a script, not collected by pytest).

Starts ``kmsconform emulate signing-proxy`` in its own process (loopback only), drives it from
``--clients`` threads with keep-alive connections for ``--seconds`` (and at most ``--max-requests``),
each request a ``POST /sign/hash`` with a fresh digest, and prints one JSON line: requests, errors,
throughput, latency percentiles and the proxy process's memory (RSS start/end, peak).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

KMSCONFORM = [sys.executable, "-c", "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"]


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def start_proxy(backend: str, alg: str, api_key: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        *KMSCONFORM,
        "emulate",
        "signing-proxy",
        "--backend",
        backend,
        "--api-key",
        api_key,
        "--option",
        f"alg={alg}",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.stdout is not None
    for line in iter(proc.stdout.readline, ""):
        if line.startswith("SIGNING_PROXY_URL="):
            return proc, line.strip().partition("=")[2]
    proc.kill()
    raise RuntimeError(f"the proxy did not start: {proc.stderr.read() if proc.stderr else ''}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--alg", default="ed25519")
    args = parser.parse_args()
    api_key = os.urandom(16).hex()
    proc, url = start_proxy(args.backend, args.alg, api_key)
    host, _, port = url.removeprefix("http://").partition(":")
    assert host == "127.0.0.1", url  # loopback only
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(args.max_requests))
    deadline = time.monotonic() + args.seconds
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: list[float] = []
        while time.monotonic() < deadline:
            try:
                i = next(counter)
            except StopIteration:
                break
            body = json.dumps({"digest_hex": hashlib.sha256(f"{n}/{i}".encode()).hexdigest()})
            start = time.perf_counter()
            try:
                conn.request("POST", "/sign/hash", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200 or b'"signature"' not in data:
                    with lock:
                        errors.append(f"{resp.status} {data[:100]!r}")
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                continue
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)

    try:
        rss_start = rss_kib(proc.pid)
        samples = [rss_start]
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(0.2)
            samples.append(rss_kib(proc.pid))
        elapsed = time.perf_counter() - t0
        rss_end, rss_peak = rss_kib(proc.pid), rss_kib(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    latencies.sort()
    total = len(latencies) + len(errors)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0

    print(
        json.dumps(
            {
                "clients": args.clients,
                "seconds": round(elapsed, 1),
                "backend": args.backend,
                "alg": args.alg,
                "requests": total,
                "errors": len(errors),
                "error_rate": round(len(errors) / total, 6) if total else 0.0,
                "req_per_s": round(total / elapsed, 1),
                "p50_ms": pct(0.50),
                "p99_ms": pct(0.99),
                "max_ms": pct(1.0),
                "rss_start_kib": rss_start,
                "rss_end_kib": rss_end,
                "rss_peak_kib": rss_peak,
                "rss_max_sampled_kib": max(samples),
                "first_errors": errors[:3],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
