#!/usr/bin/env bash
# Install dependencies, build, and run every test, in this order:
#   1. build/      with -Werror, then ctest
#   2. the ABI check of build/libpromstore.so.1
#   3. the benchmark in --quick mode, if bench/CMakeLists.txt exists: a smoke
#      run whose figures are printed, not judged (a timeout is not a failure)
#   4. build-asan/ with ASan + UBSan and -Werror: the example on both backends, then ctest
#      (leaks are errors)
#   5. libFuzzer targets (tests/fuzz/run.sh), FUZZ_SECONDS each (default 60)
# Keeps going after a failure, ends with "N passed, N failed" (ctest tests of
# both builds and the checks above, summed) and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/setup-deps.sh

passed=0
failed=0
failures=()
ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); failures+=("$1"); echo "test.sh: FAILED: $1"; }
banner() { printf '\n==== %s ====\n' "$1"; }

# run_ctest DIR: run the tests of DIR, adding ctest's own counts to ours.
run_ctest() {
  local dir=$1 log status=0 counts nfail ntotal
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j2 2>&1 | tee "$log" || status=$?
  # Closing line: "100% tests passed, 0 tests failed out of 12"
  counts=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' "$log" | tail -1)
  rm -f "$log"
  if [[ -n $counts ]]; then
    read -r nfail ntotal <<<"$counts"
    passed=$((passed + ntotal - nfail))
    failed=$((failed + nfail))
  fi
  if ((status != 0)); then
    # Count ctest's own failures, or one for a run that failed without any.
    if [[ -n $counts ]] && ((nfail > 0)); then failures+=("ctest in $dir"); else ko "ctest in $dir"; fi
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

banner "build/ (-Werror)"
if bash scripts/build.sh build -DPROMSTORE_WERROR=ON -DPROMSTORE_SANITIZE=OFF; then
  built=1
  banner "ctest build/"
  run_ctest build
else
  built=0
  ko "build of build/"
fi

banner "ABI check"
if ((built)) && bash scripts/abi-check.sh build/libpromstore.so.1; then ok; else ko "ABI check"; fi

if [[ -f bench/CMakeLists.txt ]]; then
  banner "benchmark --quick (smoke)"
  # The bench target is built with build/; take its driver binary.
  bench=$(find build/bench -maxdepth 1 -type f -executable -name '*bench*' 2>/dev/null | sort | head -1)
  status=0
  if ((built)) && [[ -n $bench ]]; then
    (cd "$tmp" && timeout 900 "$root/$bench" --quick) || status=$?
  else
    status=1
  fi
  # A timeout only means a slow machine: report it, do not fail on it.
  if ((status == 124)); then
    echo "test.sh: warning: benchmark timed out after 900 s (not a failure)"; ok
  elif ((status == 0)); then ok; else ko "benchmark --quick (status $status)"; fi
fi

banner "build-asan/ (ASan + UBSan, -Werror)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if bash scripts/build.sh build-asan -DPROMSTORE_SANITIZE=ON -DPROMSTORE_WERROR=ON; then
  for backend in lmdb sqlite; do
    banner "example ($backend, sanitized)"
    if build-asan/example_append_query "$tmp/example-$backend" "$backend"; then ok; else ko "example on $backend"; fi
  done
  banner "ctest build-asan/"
  run_ctest build-asan
else
  ko "build of build-asan/"
fi

# Fuzzing (clang's libFuzzer, ASan+UBSan): every target for FUZZ_SECONDS
# (60 by default) from its committed seed corpus, after replaying every saved
# crash input (tests/fuzz/regressions/) so a fixed crash stays fixed.
banner "fuzz (libFuzzer, ${FUZZ_SECONDS:-60} s per target)"
if bash tests/fuzz/run.sh; then ok; else ko "fuzz (tests/fuzz/run.sh)"; fi

banner "summary"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
((failed == 0 && ${#failures[@]} == 0))
