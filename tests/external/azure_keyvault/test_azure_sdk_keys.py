"""External check: azure-keyvault-keys 4.11.3's own key and crypto client tests, in live mode,
against the Key Vault emulator.

The sdist is fetched by ``.ci/fetch-external.sh`` into ``.external/`` (nothing is downloaded at
test time); without it this test is skipped with that reason. Its tests need Azure's
``devtools_testutils`` (not on PyPI): ``shim/`` stands in for it (live mode, no test proxy, the
emulator's CA, ``verify_challenge_resource=False``, a fixed-token credential, random name
suffixes). Managed HSM cases skip (no ``AZURE_MANAGEDHSM_URL``), as do those Azure itself marks
premium-SKU only or disabled. Figures: ``docs/emulators/azure-keyvault.md``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

SDK_VERSION = "4.11.3"
SDIST = f"azure_keyvault_keys-{SDK_VERSION}.tar.gz"
TEST_FILES = ("test_key_client.py", "test_crypto_client.py")
EXPECTED = {"tests": 113, "passed": 63, "failures": 0, "errors": 0, "skipped": 50}
EXPECTED_SKIPS = {
    "No HSM endpoint for live testing": 40,
    "Temporarily disabled due to service issue": 4,
    "This test is not supported on standard SKU vaults. Follow up with service team": 6,
}
HERE = Path(__file__).resolve().parent


def external_dir() -> Path:
    """``$KMSCONFORM_EXTERNAL_DIR`` or ``<repo>/.external``."""
    configured = os.environ.get("KMSCONFORM_EXTERNAL_DIR")
    return Path(configured) if configured else HERE.parents[2] / ".external"


def test_azure_sdk_key_tests_pass_against_the_emulator(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    pytest.importorskip("azure.keyvault.keys", reason="needs the azure extra (azure-keyvault-keys)")
    pytest.importorskip("dateutil", reason="azure-keyvault-keys' tests need python-dateutil")
    import azure.keyvault.keys

    if azure.keyvault.keys.__version__ != SDK_VERSION:
        pytest.skip(
            f"installed azure-keyvault-keys is {azure.keyvault.keys.__version__}, the tests are {SDK_VERSION}'s"
        )
    sdist = external_dir() / SDIST
    if not sdist.is_file():
        pytest.skip(
            f"{sdist} not present; run .ci/fetch-external.sh to fetch the azure-keyvault-keys {SDK_VERSION} sdist"
        )
    from pytest_kmsconform.emulators.azure_keyvault import DEV_TOKEN, KeyVaultEmulator

    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / f"azure_keyvault_keys-{SDK_VERSION}" / "tests"
    report = tmp_path / "azure-sdk-keys.xml"
    with KeyVaultEmulator() as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AZURE_", "KEYVAULT_"))}
        env.update(
            PYTHONPATH=str(HERE / "shim"),
            AZURE_TEST_RUN_LIVE="true",
            AZURE_KEYVAULT_URL=emulator.url,
            KEYVAULT_SKU="standard",
            AKV_SHIM_CA=str(emulator.ca_file),
            AKV_SHIM_TOKEN=DEV_TOKEN,
        )
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:kmsconform", "-p", "akv_shim"]
        argv += ["-o", "addopts=", "-q", "-rs", f"--junitxml={report}", *TEST_FILES]
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    skips = Counter(re.sub(r"^.*?: ", "", m.get("message", "")) for m in suite.iter("skipped"))
    request.node.user_properties.append(("azure_sdk_keys", counts))
    assert counts == EXPECTED, done.stdout[-6000:]
    assert dict(skips) == EXPECTED_SKIPS
