#!/usr/bin/env bash
# Installs Yubico's yubihsm-shell 2.6.0 (Debian bookworm-backports) for the tests that drive it against
# the YubiHSM 2 simulator (tests/external/yubihsm_shell). Adds the backports suite to apt's sources
# when the system is Debian 12 and it is missing. Idempotent; never fails the CI run: without the
# binary those tests skip with the reason.
set -u
if command -v yubihsm-shell >/dev/null 2>&1; then
  echo "install-yubihsm-shell: $(yubihsm-shell --version 2>/dev/null | head -1) already present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-yubihsm-shell: not root and no sudo; yubihsm-shell tests will skip"; exit 0
  fi
fi
# shellcheck disable=SC1091
codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
if [ "$codename" != "bookworm" ]; then
  echo "install-yubihsm-shell: not Debian bookworm ($codename); yubihsm-shell tests will skip"; exit 0
fi
sources=/etc/apt/sources.list.d/kmsconform-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    | $SUDO tee "$sources" >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports yubihsm-shell >/dev/null; then
  echo "install-yubihsm-shell: installed $(yubihsm-shell --version 2>/dev/null | head -1)"
else
  echo "install-yubihsm-shell: apt-get install yubihsm-shell failed; yubihsm-shell tests will skip"
fi
exit 0
