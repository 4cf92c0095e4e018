#!/usr/bin/env bash
# The README's test command, exactly as the README writes it: plain `pytest` (one process, from the
# repository root), with the Wycheproof vectors when ../shared/wycheproof is present (through
# KMSCONFORM_WYCHEPROOF_ROOT, the environment twin of --wycheproof-root). Extra arguments go to pytest.
# Exit status: pytest's; "no tests collected" (5) fails too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ -d "$root/../shared/wycheproof/testvectors_v1" ]; then
  export KMSCONFORM_WYCHEPROOF_ROOT="$root/../shared/wycheproof"
fi
echo "+ pytest $*" >&2
set +e
pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo ".ci/test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
