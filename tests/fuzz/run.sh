#!/usr/bin/env bash
# tests/fuzz/run.sh -- build the libFuzzer targets with clang + ASan + UBSan
# in their own build directory, replay every saved regression input once,
# then fuzz each target for a bounded time over a scratch copy of its
# committed seed corpus, and print the executions and the result per target.
#
#   tests/fuzz/run.sh [--regen-seeds] [TARGET...]
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz/ at the repo root)
#   FUZZ_OUT        where logs, new corpus entries and crash inputs go
#                   (default $FUZZ_BUILD_DIR/out); kept after the run
#   CC              the compiler (default clang)
# --regen-seeds rewrites tests/fuzz/corpus/ with the seed generator and exits.
#
# Exit status: 0 when every replay and every target ran clean; 1 if any
# crashed or broke an invariant (the input is saved under $FUZZ_OUT/crashes/
# and named in the output); 2 if the build failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
out=${FUZZ_OUT:-$build/out}
export CC=${CC:-clang}

all_targets=(fuzz_remote_write_v1 fuzz_remote_write_v2 fuzz_remote_read fuzz_xor_decode
             fuzz_xor_roundtrip fuzz_config_yaml fuzz_http_headers fuzz_matcher)
regen=0
targets=()
for a in "$@"; do
  case $a in
    --regen-seeds) regen=1 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fuzz_*) targets+=("$a") ;;
    *) echo "run.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")

# Largest input per target: big enough for the structures each decodes,
# small enough to keep executions fast.
max_len() {
  case $1 in
    fuzz_remote_write_v1|fuzz_remote_write_v2|fuzz_remote_read) echo 16384 ;;
    fuzz_xor_decode) echo 4096 ;;
    fuzz_xor_roundtrip) echo 8192 ;;
    fuzz_config_yaml) echo 4096 ;;
    fuzz_http_headers) echo 512 ;;
    fuzz_matcher) echo 1024 ;;
  esac
}

echo "== fuzz: build ($CC, ASan + UBSan, -fsanitize=fuzzer-no-link) in $build"
mkdir -p "$build"
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" \
         -DPROMSTORE_SANITIZE=ON -DPROMSTORE_TESTS=OFF \
         -DCMAKE_PROJECT_promstore_INCLUDE="$here/hook.cmake" >"$build/configure.log" 2>&1 &&
       cmake --build "$build" --target fuzz_all -j "$(nproc)"; }; then
  cat "$build/configure.log" >&2 2>/dev/null || true
  echo "run.sh: build failed" >&2
  exit 2
fi
bin=$build/fuzz/bin

if ((regen)); then
  rm -rf "$here/corpus"
  "$bin/fuzz_gen_seeds" "$here/corpus"
  echo "seeds: $(find "$here/corpus" -type f | wc -l) files, $(cat "$here/corpus"/*/* | wc -c) bytes"
  exit 0
fi

# Sanitizers: stop at the first error, with a stack; leaks are errors.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

mkdir -p "$out"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/promstore-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# The targets' stores live under $TMPDIR; a crash leaves one behind, so
# keep them in the scratch directory that is removed at the end.
export TMPDIR=$scratch

common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
# The config loader reports every bad file on stderr, as the server does:
# silence it (libFuzzer and the sanitizers keep a copy of stderr, and so
# does fuzz_fail()).
extra() { [[ $1 == fuzz_config_yaml ]] && echo -close_fd_mask=3 || true; }
failed=()
summary=()

# 1. Every saved regression input, once: what was found stays fixed.
for t in "${targets[@]}"; do
  dir=$here/regressions/$t
  [[ -d $dir ]] || continue
  mapfile -t files < <(find "$dir" -type f | sort)
  ((${#files[@]})) || continue
  log=$out/$t.regressions.log
  if "$bin/$t" "${common[@]}" $(extra "$t") "${files[@]}" >"$log" 2>&1; then
    summary+=("$(printf '%-22s regressions: %d inputs replayed, ok' "$t" "${#files[@]}")")
  else
    summary+=("$(printf '%-22s regressions: FAILED (log %s)' "$t" "$log")")
    failed+=("$t (regressions)")
    tail -n 40 "$log" >&2
  fi
done

# 2. Fuzz each target for $seconds over a scratch copy of its seeds.
for t in "${targets[@]}"; do
  work=$scratch/corpus/$t
  mkdir -p "$work" "$out/crashes/$t" "$out/new/$t"
  [[ -d $here/corpus/$t ]] && cp -r "$here/corpus/$t/." "$work/"
  log=$out/$t.log
  echo "== fuzz: $t for ${seconds}s"
  status=0
  "$bin/$t" "${common[@]}" $(extra "$t") -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -artifact_prefix="$out/crashes/$t/" "$work" >"$log" 2>&1 || status=$?
  # libFuzzer's final lines: "Done 123456 runs in 60 second(s)" and, with
  # -print_final_stats, "stat::number_of_executed_units: 123456".
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  [[ -n $runs ]] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  [[ -n $runs ]] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  # Keep what the run added to the corpus, for a human to look at.
  comm -13 <(ls "$here/corpus/$t" 2>/dev/null | sort) <(ls "$work" | sort) |
    while read -r f; do cp "$work/$f" "$out/new/$t/"; done
  if ((status == 0)); then
    summary+=("$(printf '%-22s %10s execs  cov %-5s ok' "$t" "${runs:-?}" "${cov:-?}")")
  else
    crash=$(ls -t "$out/crashes/$t"/* 2>/dev/null | head -1 || true)
    summary+=("$(printf '%-22s %10s execs  cov %-5s FAILED (status %d) input %s' \
      "$t" "${runs:-?}" "${cov:-?}" "$status" "${crash:-none}")")
    failed+=("$t")
    grep -m1 -B2 -A40 -E 'ERROR: |runtime error|FUZZ INVARIANT|deadly signal' "$log" >&2 || tail -n 60 "$log" >&2
  fi
done

echo
echo "== fuzz summary (${seconds}s per target, logs in $out)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: all clean"
