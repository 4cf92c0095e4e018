#!/usr/bin/env bash
# Fetch third-party test suites used as external conformance checks into .external/ (gitignored).
# Only package-registry downloads through pip; the tests skip with a reason when a file is absent.
# Called by .ci/run; safe to re-run (pip skips files already there).
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(command -v python || command -v python3)"  # the active venv's, under .ci/run
mkdir -p .external
# hvac 2.4.0 sdist: tests/integration_tests/api/secrets_engines/test_transit.py (tests/external/hvac)
"$py" -m pip download --quiet --no-binary :all: --no-deps --dest .external "hvac==2.4.0"
test -s .external/hvac-2.4.0.tar.gz
# yubihsm 3.1.2 sdist: Yubico's device test suite tests/device/ (tests/external/yubihsm)
"$py" -m pip download --quiet --no-binary :all: --no-deps --dest .external "yubihsm==3.1.2"
test -s .external/yubihsm-3.1.2.tar.gz
# azure-keyvault-keys 4.11.3 sdist: its own tests/ (key client, crypto client), run in live mode against
# the Key Vault emulator (tests/external/azure_keyvault); the version is the azure extra's pin
"$py" -m pip download --quiet --no-binary :all: --no-deps --dest .external "azure-keyvault-keys==4.11.3"
test -s .external/azure_keyvault_keys-4.11.3.tar.gz
# python-pkcs11 0.10.1 sdist: its own test suite tests/ (tests/external/pkcs11), run against our SoftHSM2 token
"$py" -m pip download --quiet --no-binary :all: --no-deps --dest .external "python-pkcs11==0.10.1"
test -s .external/python_pkcs11-0.10.1.tar.gz
