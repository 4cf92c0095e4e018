"""External check: hvac 2.4.0's own Transit integration tests (47 cases) against our OpenBao server.

The hvac sdist is fetched by ``.ci/fetch-external.sh`` into ``.external/`` (nothing is downloaded at
test time); without it this test is skipped with that reason. The sdist is unpacked into a temporary
directory and its tests run in a subprocess with :mod:`hvac_shim` as a plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_kmsconform.backend_api import BackendHandle

HVAC_VERSION = "2.4.0"
SDIST = f"hvac-{HVAC_VERSION}.tar.gz"
TRANSIT_TESTS = "tests/integration_tests/api/secrets_engines/test_transit.py"
EXPECTED_CASES = 47
HERE = Path(__file__).resolve().parent


def external_dir() -> Path:
    """``$KMSCONFORM_EXTERNAL_DIR`` or ``<repo>/.external``."""
    configured = os.environ.get("KMSCONFORM_EXTERNAL_DIR")
    return Path(configured) if configured else HERE.parents[2] / ".external"


def test_hvac_transit_suite_passes(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    pytest.importorskip("parameterized", reason="hvac's tests need the dev extra (parameterized)")
    pytest.importorskip("hcl", reason="hvac's tests need the dev extra (pyhcl)")
    sdist = external_dir() / SDIST
    if not sdist.is_file():
        pytest.skip(f"{sdist} not present; run .ci/fetch-external.sh to fetch the hvac {HVAC_VERSION} sdist")
    openbao: BackendHandle = request.getfixturevalue("openbao")  # started only when the check can run
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / f"hvac-{HVAC_VERSION}"
    report = tmp_path / "hvac-transit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PYTEST_"))}
    env.update(
        PYTHONPATH=str(HERE),
        HVAC_SHIM_VAULT_ADDR=openbao.env["VAULT_ADDR"],
        HVAC_SHIM_VAULT_TOKEN=openbao.env["VAULT_TOKEN"],
        HVAC_SHIM_VAULT_VERSION=openbao.version.split()[-1],
    )
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:kmsconform", "-p", "hvac_shim"]
    argv += ["-o", "addopts=", "-q", f"--junitxml={report}", TRANSIT_TESTS]
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    request.node.user_properties.append(("hvac_transit", counts))
    assert counts == {"tests": EXPECTED_CASES, "failures": 0, "errors": 0, "skipped": 0, "passed": EXPECTED_CASES}, (
        done.stdout[-5000:]
    )
