#!/bin/bash
# run-tests.sh: build roam as CI does (warnings are errors, AddressSanitizer
# and UndefinedBehaviorSanitizer on), check the formatting, and run every test
# through ctest: the unit tests and the integration tests against a private
# Dovecot that the test suite starts on 127.0.0.1 and stops again.
#
#   contrib/run-tests.sh            (after contrib/install-deps.sh)
#   BUILD_DIR=build-x contrib/run-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-test}
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DROAM_WERROR=ON -DROAM_SANITIZE=ON
cmake --build "$build" -j "$jobs"

# Formatting is part of the build's contract: an unformatted file fails here
# rather than in a reviewer's diff.
if command -v clang-format >/dev/null; then
  mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find src tests -name '*.[ch]pp')
  if ! clang-format --dry-run --Werror "${sources[@]}"; then
    echo "run-tests.sh: some files are not clang-formatted; run: clang-format -i \$(git ls-files '*.cpp' '*.hpp')" >&2
    exit 1
  fi
fi

# Leaks in the short-lived test processes are not what this run looks for,
# and LeakSanitizer needs ptrace rights that some containers lack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 600
