"""The signing proxy under concurrent load on loopback, bounded in time and count: error rate 0,
p99 latency and memory recorded. CI: 8 clients x 5 s; ``KMSCONFORM_LOAD_FULL=1``: 16 clients x 60 s
(figures in ``docs/reliability.md``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FULL = os.environ.get("KMSCONFORM_LOAD_FULL") == "1"


@pytest.mark.slow
def test_signing_proxy_under_load() -> None:
    clients, seconds = (16, 60) if FULL else (8, 5)
    script = Path(__file__).with_name("proxy_load.py")
    cmd = [sys.executable, str(script), "--clients", str(clients), "--seconds", str(seconds)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(figures))
    report = os.environ.get("KMSCONFORM_LOAD_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"load": "signing-proxy", **figures}) + "\n")
    assert figures["requests"] > 100, figures
    assert figures["errors"] == 0, figures["first_errors"]
    assert figures["p99_ms"] < 2000, figures
    # memory stays bounded: no growth proportional to the number of requests served
    assert figures["rss_end_kib"] < figures["rss_start_kib"] + 100 * 1024, figures
