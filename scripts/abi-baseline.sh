#!/usr/bin/env bash
# Regenerate the ABI baseline abi/libpromstore.abi from build/libpromstore.so.1.
# Run it only in a commit that intends an ABI change, and commit the new
# baseline with that change, so that every ABI change is a reviewed diff.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh build
# --short-locs keeps file:line without the checkout's path (stable across
# clones) yet lets abidiff's --headers-dir tell public types from private ones:
# with --no-show-locs every type looks private and all changes are filtered out.
# --exported-interfaces-only and hashed type ids keep the output deterministic.
abidw --headers-dir abi/ --short-locs --drop-private-types --exported-interfaces-only \
  --no-corpus-path --no-comp-dir-path --type-id-style hash \
  --out-file abi/libpromstore.abi build/libpromstore.so.1
echo "abi-baseline: wrote abi/libpromstore.abi"
