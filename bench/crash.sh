#!/usr/bin/env bash
# Runs the crash test (tests/e2e/crash_test.cpp) with more SIGKILLs than `make test` does:
# every acknowledged row must survive exactly once, nothing unacknowledged half-present.
#   bench/crash.sh [ROUNDS]   (default 25; BUILD_DIR defaults to build/ in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
if [[ ! -x "$build_dir/tests/e2e/crash_test" ]]; then
  echo "crash.sh: $build_dir/tests/e2e/crash_test not built; run: cmake --build $build_dir --target crash_test" >&2
  exit 2
fi
TRIBUTARY_CRASH_ROUNDS=${1:-25} "$build_dir/tests/e2e/crash_test"
