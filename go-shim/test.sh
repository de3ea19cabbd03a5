#!/usr/bin/env bash
# test.sh BUILD_DIR -- the Go shim's checks against the library in BUILD_DIR
# (built with CMake): gofmt, go vet, go test -race, go test -race with
# GODEBUG=cgocheck=2, then the adapter binary (BUILD_DIR/go-shim/promstore-adapter)
# and a smoke run of it. No network: GOPROXY=off, no module requirements.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$here/env.sh" "${1:?usage: test.sh BUILD_DIR}"
cd "$here"
command -v go >/dev/null || { echo "go-shim: FAIL: go not found (scripts/setup-deps.sh installs golang-go)"; exit 1; }
echo "go-shim: $(go version)"

unformatted=$(gofmt -l .)
[[ -z $unformatted ]] || { echo "go-shim: FAIL: not gofmt'ed: $unformatted"; exit 1; }
go vet ./...
go test -count=1 -race ./...
GODEBUG=cgocheck=2 go test -count=1 -race ./...
go build -o "$build/go-shim/promstore-adapter" ./cmd/promstore-adapter

# Smoke: the adapter starts, is ready, serves /metrics, and stops on SIGTERM
# with 0; then, with a bearer token, refuses every endpoint but the health
# checks without it.
work=$(mktemp -d "${TMPDIR:-/tmp}/go-shim-smoke.XXXXXX")
adapter_pid=""
trap '[[ -z $adapter_pid ]] || kill -KILL "$adapter_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# start_adapter STORE [FLAG...]: start it, set $addr, wait until ready.
start_adapter() {
  local store=$1
  shift
  : >"$work/log"
  "$build/go-shim/promstore-adapter" --storage.path="$store" --web.listen-address=127.0.0.1:0 \
    --log.level=debug "$@" 2>"$work/log" &
  adapter_pid=$!
  addr=""
  for ((i = 0; i < 100; i++)); do
    addr=$(sed -n 's/.*msg="Listening on" address=\([^ ]*\).*/\1/p' "$work/log")
    [[ -n $addr ]] && break
    sleep 0.1
  done
  [[ -n $addr ]] || { echo "go-shim: FAIL: adapter did not start"; cat "$work/log"; exit 1; }
  for ((i = 0; i < 50; i++)); do
    [[ $(curl -s --max-time 2 "http://$addr/-/ready" 2>/dev/null) == Ready ]] && return 0
    sleep 0.1
  done
  echo "go-shim: FAIL: adapter not ready"
  exit 1
}

stop_adapter() {
  kill -TERM "$adapter_pid"
  local rc=0
  wait "$adapter_pid" || rc=$?
  adapter_pid=""
  ((rc == 0)) || { echo "go-shim: FAIL: adapter exited $rc after SIGTERM"; cat "$work/log"; exit 1; }
}

status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

start_adapter "$work/store"
# Read the whole body before grepping: under pipefail, `curl | grep -q` fails
# whenever grep exits early and curl then dies on the closed pipe.
metrics=$(curl -sf --max-time 5 "http://$addr/metrics") || { echo "go-shim: FAIL: /metrics unreachable"; exit 1; }
grep -q '^promstore_build_info{version=' <<<"$metrics" ||
  { echo "go-shim: FAIL: /metrics has no promstore_build_info"; exit 1; }
[[ $(status "http://$addr/api/v1/write") == 405 ]] ||
  { echo "go-shim: FAIL: GET /api/v1/write is not 405"; exit 1; }
stop_adapter

token=tok-$RANDOM$RANDOM-secret
printf '%s\n' "$token" >"$work/token"
start_adapter "$work/store-auth" --web.bearer-token-file="$work/token"
for ep in "-X POST http://$addr/api/v1/write" "-X POST http://$addr/api/v1/read" \
  "http://$addr/metrics" "-I http://$addr/metrics"; do
  # shellcheck disable=SC2086 # ep is a method flag and a URL
  for cred in "" "Authorization: Bearer ${token}x" "Authorization: Bearer ${token:0:8}"; do
    got=$(status -H "$cred" $ep)
    [[ $got == 401 ]] || { echo "go-shim: FAIL: $ep with '${cred:-no credentials}' gave $got, not 401"; exit 1; }
  done
done
[[ $(status -H "Authorization: Bearer $token" "http://$addr/metrics") == 200 ]] ||
  { echo "go-shim: FAIL: /metrics refuses the right token"; exit 1; }
for ep in /-/healthy /-/ready; do
  [[ $(status "http://$addr$ep") == 200 ]] || { echo "go-shim: FAIL: $ep is not open"; exit 1; }
done
stop_adapter
! grep -q -- "$token" "$work/log" || { echo "go-shim: FAIL: the token is in the log"; exit 1; }
echo "go-shim: PASSED"
