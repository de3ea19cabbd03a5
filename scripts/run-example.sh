#!/usr/bin/env bash
# Install dependencies, build, and run the example that appends series through
# the public ABI and queries them back. The store lives under ./data.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh
bash scripts/build.sh build
exec build/example_append_query ./data
