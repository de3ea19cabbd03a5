#!/usr/bin/env bash
# run_walls.sh BUILD_DIR PROBES -- build each wall probe listed in PROBES
# (name|component|header|OK or FAIL, one a line; tests/walls/CMakeLists.txt)
# and check that it compiles (OK) or stops at the wall (FAIL).
set -uo pipefail
build=$1 probes=$2
passed=0 failed=0
while IFS='|' read -r name component header expect; do
  [[ -n $name ]] || continue
  out=$(cmake --build "$build" --target "$name" 2>&1)
  status=$?
  verdict=ok
  if [[ $expect == OK ]]; then
    ((status == 0)) || verdict="did not compile"
  elif ((status == 0)); then
    verdict="compiled, but the wall should stop it"
  elif ! grep -q -E 'belongs to .*may not include it|is the inside of .*: use |No such file or directory' <<<"$out"; then
    verdict="failed for another reason"
  fi
  if [[ $verdict == ok ]]; then
    passed=$((passed + 1))
    echo "ok    $component includes $header: $expect"
  else
    failed=$((failed + 1))
    echo "FAIL  $component includes $header: expected $expect, $verdict"
    grep -E 'error' <<<"$out" | head -5
  fi
done <"$probes"
echo "walls: $passed passed, $failed failed"
((failed == 0))
