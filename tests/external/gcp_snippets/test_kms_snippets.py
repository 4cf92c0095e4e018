"""External check: Google's python-docs-samples ``kms/snippets`` tests (40 tests, written against
the real service) run unchanged against our Cloud KMS emulator.

A copy of python-docs-samples is not part of this repository and cannot be downloaded in CI (only
package registries are reachable): point ``KMSCONFORM_GCP_SAMPLES_DIR`` at a checkout (or at its
``kms/snippets`` folder); without it this test is skipped with that reason. The folder is copied to
a temporary directory and its tests run in a subprocess with :mod:`gcp_snippets_shim` as a plugin,
which marks the tests needing IAM, key import, HSM attestation or DeleteCryptoKey with the reason.
Measured (docs/emulators/gcp-kms.md): 31 passed, 9 skipped (reasons given), 0 failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

EXPECTED_TOTAL = 40
MIN_PASSED = 31  # fewer is a regression
EXPECTED_SKIPPED = 9  # each with the reason in gcp_snippets_shim.NOT_EMULATED
HERE = Path(__file__).resolve().parent


def snippets_dir() -> Path | None:
    configured = os.environ.get("KMSCONFORM_GCP_SAMPLES_DIR")
    if not configured:
        return None
    root = Path(configured)
    for candidate in (root, root / "kms" / "snippets"):
        if (candidate / "snippets_test.py").is_file():
            return candidate
    return None


def test_google_kms_snippets_pass(tmp_path: Path, record_property: object) -> None:
    pytest.importorskip("google.cloud.kms", reason="needs the gcp extra (pip install 'pytest-kmsconform[gcp]')")
    pytest.importorskip("crcmod", reason="the samples import crcmod (pip install crcmod)")
    pytest.importorskip("jwcrypto", reason="the samples import jwcrypto (pip install jwcrypto)")
    source = snippets_dir()
    if source is None:
        pytest.skip(
            "no copy of GoogleCloudPlatform/python-docs-samples: set KMSCONFORM_GCP_SAMPLES_DIR to a checkout "
            "(it cannot be downloaded here: only package registries are reachable)"
        )
    work = tmp_path / "snippets"
    shutil.copytree(source, work)
    report = tmp_path / "snippets.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KMS_EMULATOR", "GOOGLE_"))}
    env["PYTHONPATH"] = str(HERE)
    argv = [sys.executable, "-m", "pytest", "-p", "gcp_snippets_shim", "-p", "no:kmsconform"]
    argv += ["-p", "no:cacheprovider", "-o", "addopts=", "-q", "-rs", f"--junitxml={report}", "snippets_test.py"]
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    outcomes: Counter[str] = Counter()
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcomes[next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")] += 1
    record_property("gcp_kms_snippets", dict(outcomes))  # type: ignore[operator]
    assert outcomes["failure"] == 0 and outcomes["error"] == 0, done.stdout[-5000:]
    assert sum(outcomes.values()) == EXPECTED_TOTAL, dict(outcomes)
    assert outcomes["passed"] >= MIN_PASSED and outcomes["skipped"] <= EXPECTED_SKIPPED, dict(outcomes)
