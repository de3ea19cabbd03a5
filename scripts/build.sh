#!/usr/bin/env bash
# Configure and build promstore: scripts/build.sh [BUILD_DIR [CMAKE_OPTION...]]
# Default BUILD_DIR is build/. Run from anywhere; paths are relative to the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build}
shift || true
cmake -S . -B "$dir" "$@"
cmake --build "$dir" -j "$(nproc)"
