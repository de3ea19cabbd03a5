#!/usr/bin/env bash
# Check the shared object against the committed ABI baseline:
#   SONAME libpromstore.so.1, exactly the header's functions exported under the
#   versions of abi/promstore.map (scripts/abi-symbols.sh), DWARF present (without
#   it abidiff compares symbol names only), and abidiff reporting no change at
#   all (added symbols aside). Any nonzero abidiff status fails: real breaks
#   (a new parameter, a reordered struct) come back as 4, not only as 8.
# Usage: scripts/abi-check.sh [LIBRARY]   (default build/libpromstore.so.1)
set -euo pipefail
cd "$(dirname "$0")/.."

lib=${1:-build/libpromstore.so.1}
baseline=abi/libpromstore.abi
fail=0
[[ -f $lib ]] || { echo "abi-check: $lib not found; build first" >&2; exit 1; }

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [[ $soname != libpromstore.so.1 ]]; then
  echo "abi-check: SONAME is '$soname', expected libpromstore.so.1"
  fail=1
fi

# Exactly the functions of the header, each under the version the map gives it.
bash scripts/abi-symbols.sh "$lib" || fail=1

if ! readelf -S "$lib" | grep '\.debug_info' >/dev/null; then
  echo "abi-check: $lib has no DWARF (.debug_info); build with -g"
  fail=1
fi

if [[ ! -f $baseline ]]; then
  echo "abi-check: no baseline $baseline; create it with scripts/abi-baseline.sh"
  fail=1
else
  status=0
  abidiff --no-added-syms --headers-dir1 abi/ --headers-dir2 abi/ "$baseline" "$lib" || status=$?
  if ((status != 0)); then
    echo "abi-check: abidiff exit status $status (1 error, 2 usage, 4 ABI change, 8 incompatible change)"
    echo "abi-check: if the change is intended, run scripts/abi-baseline.sh and commit abi/libpromstore.abi with it"
    fail=1
  fi
fi

if ((fail)); then
  echo "abi-check: FAILED"
  exit 1
fi
echo "abi-check: OK ($lib matches $baseline)"
