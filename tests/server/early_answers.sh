#!/usr/bin/env bash
# early_answers.sh BUILD_DIR BACKEND [adapter] -- answers decided before the
# body is read (413, 401, 404, 405), as Go's net/http client, the one
# Prometheus uses, sees them. A server that answers and closes while the
# client is still sending makes that client fail with "write: broken pipe"
# instead of returning the status (and Prometheus retries such a batch
# forever); every request of every case here must get its status.
#
# Runs against the C server (BUILD_DIR/server/promstore); with "adapter" as
# the third argument, against the Go adapter (built here from go-shim/ into
# BUILD_DIR/go-shim/) instead. Only 127.0.0.1 is used; every wait is bounded.
set -euo pipefail
build=$(cd "${1:?usage: early_answers.sh BUILD_DIR BACKEND [adapter]}" && pwd)
backend=${2:?usage: early_answers.sh BUILD_DIR BACKEND [adapter]}
which=${3:-server}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v go >/dev/null || { echo "early_answers: FAIL: go not found"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/early-answers.XXXXXX")
pid=""
trap '[[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# The client: standard library only, built without modules or network.
mkdir -p "$build/go-shim/cache"
GOCACHE=$build/go-shim/cache GOPROXY=off GOTOOLCHAIN=local GO111MODULE=off GOFLAGS= \
  go build -o "$work/goclient" "$repo/tests/server/goclient/main.go"

if [[ $which == adapter ]]; then
  (
    # shellcheck source=../../go-shim/env.sh
    . "$repo/go-shim/env.sh" "$build"
    cd "$repo/go-shim" && go build -o "$build/go-shim/promstore-adapter" ./cmd/promstore-adapter
  )
  binary=$build/go-shim/promstore-adapter
else
  binary=$build/server/promstore
fi

# start NAME [FLAG...]: run the binary on a fresh store; sets $addr and $pid.
start() {
  local name=$1
  shift
  : >"$work/$name.log"
  "$binary" --storage.backend="$backend" --storage.path="$work/$name" \
    --web.listen-address=127.0.0.1:0 "$@" 2>"$work/$name.log" &
  pid=$!
  addr=""
  for ((i = 0; i < 150; i++)); do
    addr=$(sed -n 's/.*msg="Listening on" address=\([^ ]*\).*/\1/p' "$work/$name.log")
    [[ -n $addr ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "early_answers: FAIL: $binary did not start"
  cat "$work/$name.log"
  exit 1
}

stop() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}

failed=0
# check NAME WHAT GOCLIENT-ARGS...: one case; prints its table row.
check() {
  local name=$1 what=$2
  shift 2
  local out rc=0
  out=$("$work/goclient" "$@" 2>&1) || rc=$?
  echo "CASE $name | $which | $what | $(tail -n 1 <<<"$out")"
  if ((rc != 0)); then
    echo "$out"
    failed=1
  fi
}

start plain
check early_413 "10 POSTs of 40 MiB, --web.max-request-bytes 32MiB" \
  -url "http://$addr/api/v1/write" -size $((40 << 20)) -n 10 -want 413
check early_404 "10 POSTs of 8 MiB to an unknown path" \
  -url "http://$addr/api/v1/nothing" -size $((8 << 20)) -n 10 -want 404
check early_405 "10 PUTs of 8 MiB to /api/v1/write" \
  -url "http://$addr/api/v1/write" -method PUT -size $((8 << 20)) -n 10 -want 405
if [[ $which == server ]]; then
  # The adapter answers such a GET 200 (net/http drops the body); the C server refuses it.
  check early_413_healthy "10 GETs of 8 MiB to /-/healthy" \
    -url "http://$addr/-/healthy" -method GET -size $((8 << 20)) -n 10 -want 413
fi
stop

echo -n "s3cret-token" >"$work/token"
start auth --web.bearer-token-file="$work/token"
check early_401 "10 POSTs of 8 MiB without the bearer token" \
  -url "http://$addr/api/v1/write" -size $((8 << 20)) -n 10 -want 401
check early_401_read "10 remote-read POSTs of 8 MiB with a wrong token" \
  -url "http://$addr/api/v1/read" -size $((8 << 20)) -n 10 -want 401 \
  -header "Authorization: Bearer wrong"
stop

if ((failed)); then
  echo "early_answers: FAIL"
  exit 1
fi
echo "early_answers: PASS"
