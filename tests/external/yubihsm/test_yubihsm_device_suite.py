"""External check: Yubico's own device test suite (``tests/device/`` of the yubihsm 3.1.2 sdist, 310
tests) against our simulator behind its connector shim.

The sdist is fetched by ``.ci/fetch-external.sh`` into ``.external/`` (nothing is downloaded at test
time); without it this test is skipped with that reason. The sdist is unpacked into a temporary
directory and its suite runs unmodified in a subprocess as ``pytest --backend <our URL> tests/device/``.
Required: every test of the signing (EC, RSA), HMAC, wrap, delete, auth, basic, logs and reset files
passes; the totals are recorded (``docs/emulators/yubihsm.md`` reports them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from pytest_kmsconform.emulators.yubihsm.provider import PROVIDER

YUBIHSM_VERSION = "3.1.2"
SDIST = f"yubihsm-{YUBIHSM_VERSION}.tar.gz"
REQUIRED_FILES: tuple[str, ...] = ("test_ec", "test_rsa", "test_hmac", "test_wrap", "test_delete", "test_auth")
REQUIRED_FILES += ("test_basic", "test_logs", "test_reset")
EXPECTED_TOTAL = 310
MIN_PASSED = 306  # measured 306 passed + 4 FIPS skips (docs/emulators/yubihsm.md); fewer is a regression
HERE = Path(__file__).resolve().parent


def external_dir() -> Path:
    """``$KMSCONFORM_EXTERNAL_DIR`` or ``<repo>/.external``."""
    configured = os.environ.get("KMSCONFORM_EXTERNAL_DIR")
    return Path(configured) if configured else HERE.parents[2] / ".external"


def _outcomes(report: Path) -> dict[str, Counter[str]]:
    """Outcome counts per test file (``passed``, ``failed``, ``error``, ``skipped``)."""
    per_file: dict[str, Counter[str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        name = next((part for part in module if part.startswith("test_")), "?")
        kinds = {child.tag for child in case}
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        per_file.setdefault(name, Counter())[outcome] += 1
    return per_file


def test_yubico_device_suite_passes(tmp_path: Path, record_property: object) -> None:
    pytest.importorskip("yubihsm", reason="the yubihsm extra is not installed")
    sdist = external_dir() / SDIST
    if not sdist.is_file():
        pytest.skip(f"{sdist} not present; run .ci/fetch-external.sh to fetch the yubihsm {YUBIHSM_VERSION} sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / f"yubihsm-{YUBIHSM_VERSION}"
    report = tmp_path / "yubihsm-device.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YUBIHSM_", "PYTEST_"))}
    with PROVIDER.start(namespace="yubico-device-suite") as handle:
        assert handle.url is not None
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:kmsconform", "-o", "addopts="]
        argv += ["-q", f"--junitxml={report}", "--backend", handle.url, "tests/device/"]
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=1200)
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    per_file = _outcomes(report)
    totals = sum(per_file.values(), Counter())
    record_property("yubihsm_device_suite", {name: dict(c) for name, c in sorted(per_file.items())})  # type: ignore[operator]
    broken = {
        name: dict(per_file.get(name, Counter()))
        for name in REQUIRED_FILES
        if per_file.get(name, Counter())["failure"] + per_file.get(name, Counter())["error"] > 0 or name not in per_file
    }
    assert not broken, f"required files failing: {broken}\n{done.stdout[-5000:]}"
    assert sum(totals.values()) == EXPECTED_TOTAL, dict(totals)
    assert totals["passed"] >= MIN_PASSED, (dict(totals), done.stdout[-5000:])
