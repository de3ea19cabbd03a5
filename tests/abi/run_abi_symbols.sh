#!/usr/bin/env bash
# run_abi_symbols.sh LIBRARY -- scripts/abi-symbols.sh passes on the real
# header, map and library, and fails, for the right reason, on copies of the
# map and the header broken the ways it exists to catch. The broken cases are
# the controls: a checker that always said OK would fail this test.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
lib=${1:?usage: run_abi_symbols.sh LIBRARY}
check=$repo/scripts/abi-symbols.sh
map=$repo/abi/promstore.map header=$repo/abi/promstore.h
work=$(mktemp -d "${TMPDIR:-/tmp}/abi-symbols.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

verdict() { # NAME OK|"FAIL pattern" OUTPUT STATUS
  local name=$1 expect=$2 out=$3 status=$4 why=""
  if [[ $expect == OK ]]; then
    ((status == 0)) || why="failed: $(grep -v FAILED <<<"$out" | head -3)"
  elif ((status == 0)); then
    why="passed, but must fail"
  elif ! grep -q -E -- "${expect#FAIL }" <<<"$out"; then
    why="failed for another reason: $(head -3 <<<"$out")"
  fi
  if [[ -z $why ]]; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name: $why"
  fi
}

# case NAME EXPECT MAP HEADER
case_() {
  local out status
  out=$(bash "$check" --map "$3" --header "$4" "$lib" 2>&1)
  status=$?
  verdict "$1" "$2" "$out" "$status"
}

case_ "the real header, map and library agree" OK "$map" "$header"

# A wildcard exports whatever matches, so the map must name every symbol.
sed 's/^\( *\)promstore_append;/\1promstore_*;/' "$map" >"$work/wildcard.map"
case_ "a wildcard in the map" "FAIL 'promstore_\*' .*no wildcards" "$work/wildcard.map" "$header"

# An exported function missing from the map.
sed '/^ *promstore_strerror;/d' "$map" >"$work/missing.map"
case_ "an exported function the map does not list" \
  "FAIL exports promstore_strerror under PROMSTORE_1, which .* does not list" "$work/missing.map" "$header"

# A name in the map that the header does not declare (and ld silently skips).
sed 's/^\( *\)promstore_version;/&\n\1promstore_not_declared;/' "$map" >"$work/extra.map"
case_ "a map entry the header does not declare" \
  "FAIL lists promstore_not_declared, which .* does not declare" "$work/extra.map" "$header"

# A function moved to a node the library was not built with.
first=$(sed -n 's/^\([A-Z_0-9.]*\) *{.*/\1/p' "$map" | head -1)
sed -e '/^ *promstore_version;/d' "$map" >"$work/moved.map"
printf '%s.9 {\n  global:\n    promstore_version;\n} %s;\n' "$first" "$first" >>"$work/moved.map"
case_ "a function under another version than the library's" \
  "FAIL exports promstore_version under $first, which .* does not list there" "$work/moved.map" "$header"

# A new node that does not inherit the one before it.
printf 'PROMSTORE_LATER {\n  global:\n    promstore_later;\n};\n' >>"$work/orphan.map"
cat "$map" "$work/orphan.map" >"$work/orphan_full.map"
case_ "a node that does not inherit the previous one" \
  "FAIL node PROMSTORE_LATER inherits '-'" "$work/orphan_full.map" "$header"

# The header declares a function the map (and so the library) leaves out.
sed 's/^PROMSTORE_API void promstore_options_init(/&void);\nPROMSTORE_API int promstore_new_call(/' \
  "$header" >"$work/new_call.h"
case_ "a declared function the map does not list" \
  "FAIL declares promstore_new_call, which .* does not list" "$map" "$work/new_call.h"

echo "abi-symbols self-test: $passed passed, $failed failed"
((failed == 0))
