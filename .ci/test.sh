#!/usr/bin/env bash
# The README's test command (`pytest`), plus the Wycheproof vectors when ../shared/wycheproof is
# present and two xdist workers. Exit status: pytest's, except "no tests collected" (5) fails too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
args=(-p xdist -n "${KMSCONFORM_TEST_WORKERS:-2}")
if [ -d "$root/../shared/wycheproof/testvectors_v1" ]; then
  args+=("--wycheproof-root=$root/../shared/wycheproof")
fi
set +e
pytest "${args[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo ".ci/test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
