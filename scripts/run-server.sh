#!/usr/bin/env bash
# Install dependencies, build, and run the promstore server on its embedded
# default: LMDB under ./data, listening on 127.0.0.1:9201. Extra arguments are
# passed to the server (e.g. --storage.backend=sqlite); Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh
bash scripts/build.sh build
exec build/server/promstore --storage.path=./data "$@"
