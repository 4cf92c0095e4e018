#!/usr/bin/env bash
# Installs SoftHSM2 (Debian's softhsm2: the PKCS#11 module libsofthsm2.so and softhsm2-util) for the
# pkcs11 backend, which makes its own token directory and SOFTHSM2_CONF per backend instance.
# Idempotent; never fails the CI run: without it the pkcs11 backend and its tests skip with the reason.
set -u
if [ -e /usr/lib/softhsm/libsofthsm2.so ]; then
  echo "install-softhsm: /usr/lib/softhsm/libsofthsm2.so already present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-softhsm: not root and no sudo; the pkcs11 backend will skip"; exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null; then
  echo "install-softhsm: installed $(softhsm2-util --version 2>/dev/null | head -1)"
else
  echo "install-softhsm: apt-get install softhsm2 failed; the pkcs11 backend will skip"
fi
exit 0
