#!/usr/bin/env bash
# e2e.sh BUILD_DIR [BACKEND] -- the end-to-end test with a real Prometheus
# (tests/e2e/run_e2e.sh, unchanged) against the Go adapter instead of the C
# server: remote_write then remote_read, identical PromQL answers, no warnings,
# SIGKILL and restart. Builds the adapter first if needed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$here/env.sh" "${1:?usage: e2e.sh BUILD_DIR [lmdb|sqlite]}"
backend=${2:-lmdb}
adapter=$build/go-shim/promstore-adapter
(cd "$here" && go build -o "$adapter" ./cmd/promstore-adapter)
export PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || echo prometheus)}
exec bash "$here/../tests/e2e/run_e2e.sh" "$backend" "$adapter"
