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

# ThreadSanitizer cannot share a build with AddressSanitizer: roam and the
# simulation get a tree of their own, and the main build's ctest runs them
# as the tsan.* tests (tests/CMakeLists.txt): folders on parallel lanes,
# accounts side by side, and roam watch's threads. ROAM_SKIP_TSAN=1 skips it.
tsan_args=()
if [[ ${ROAM_SKIP_TSAN:-0} != 1 ]]; then
  tsan_build=${TSAN_BUILD_DIR:-build-tsan}
  cmake -S . -B "$tsan_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROAM_WERROR=ON \
    -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
    -DROAM_INTEGRATION_TESTS=OFF
  cmake --build "$tsan_build" -j "$jobs" --target roam roam_sim
  tsan_args=(-DROAM_TSAN_DIR="$(cd "$tsan_build" && pwd)")
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DROAM_WERROR=ON -DROAM_SANITIZE=ON "${tsan_args[@]}"
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

# A bounded fuzz run, about a minute, before the tests so that ctest's
# summary closes the output: the IMAP response reader and parser for
# 50 s, the Maildir file-name codec for 10 s, in a clang build of their own
# (libFuzzer needs clang++; see tests/fuzz/CMakeLists.txt). A crash, a
# sanitizer report or a failed property fails this script, and the input is
# left in $fuzz_build/fuzz-artifacts/. ROAM_SKIP_FUZZ=1 skips it.
if [[ ${ROAM_SKIP_FUZZ:-0} != 1 ]]; then
  if ! command -v clang++ >/dev/null; then
    echo "run-tests.sh: clang++ is needed for the fuzz run; install clang and libclang-rt-14-dev, or set ROAM_SKIP_FUZZ=1" >&2
    exit 1
  fi
  fuzz_build=${FUZZ_BUILD_DIR:-build-fuzz}
  cmake -S . -B "$fuzz_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DROAM_FUZZ=ON -DROAM_INTEGRATION_TESTS=OFF
  cmake --build "$fuzz_build" -j "$jobs" --target parse_response_fuzzer maildir_name_fuzzer state_file_fuzzer
  mkdir -p "$fuzz_build/fuzz-artifacts"
  for run in parse_response:50 maildir_name:10 state_file:15; do
    name=${run%%:*}
    seconds=${run##*:}
    # The first directory collects what this machine's runs discover, so
    # later runs start further; the second holds the checked-in seeds.
    mkdir -p "$fuzz_build/fuzz-corpus/$name"
    "$fuzz_build/tests/fuzz/${name}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$fuzz_build/fuzz-artifacts/$name-" \
      "$fuzz_build/fuzz-corpus/$name" "tests/fuzz/corpus/$name"
  done
fi

# Leaks in the short-lived test processes are not what this run looks for,
# and LeakSanitizer needs ptrace rights that some containers lack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 600

