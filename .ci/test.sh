#!/usr/bin/env bash
# The README's test commands, exactly as the README writes them: plain `pytest` (one process, from
# the repository root), then `pytest` with the Wycheproof vectors (when ../shared/wycheproof is
# present) and two xdist workers (`-p xdist -n 2`). Extra arguments go to both runs.
# Exit status: the first failing run's; "no tests collected" (5) fails too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

run() {
  echo "+ $*" >&2
  set +e
  "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo ".ci/test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
  fi
  if [ "$rc" -ne 0 ]; then
    exit "$rc"
  fi
}

run pytest "$@"
more=(-p xdist -n "${KMSCONFORM_TEST_WORKERS:-2}")
if [ -d "$root/../shared/wycheproof/testvectors_v1" ]; then
  more+=("--wycheproof-root=../shared/wycheproof")
fi
run pytest "${more[@]}" "$@"
