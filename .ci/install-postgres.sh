#!/usr/bin/env bash
# Installs the PostgreSQL server (Debian's packages) for the PostgreSQL audit-store tests, which start
# their own throw-away server (initdb + pg_ctl on 127.0.0.1, run as the 'postgres' user when root).
# Idempotent; never fails the CI run: without it those tests skip with the reason.
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "install-postgres: server binaries already present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-postgres: not root and no sudo; PostgreSQL tests will skip"; exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; then
  echo "install-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | head -1)"
else
  echo "install-postgres: apt-get install postgresql failed; PostgreSQL tests will skip"
fi
exit 0
