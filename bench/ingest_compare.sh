#!/usr/bin/env bash
# ingest_compare.sh [BUILD_DIR] -- remote-write ingest, side by side:
# promstore on LMDB, promstore on SQLite and Prometheus v2.42's own receiver
# (--web.enable-remote-write-receiver), each fresh, each fed the same
# byte-identical load by promstore-loadgen for DURATION seconds. Prints
# accepted samples/s, latency percentiles and peak RSS (VmHWM) per target.
#
# Env: DURATION (20 s per target), SENDERS (4), HOSTS (100, ~1000 series
# each), REQUESTS (10000 of 2000 samples, pre-encoded), SERVER (the promstore
# binary; default BUILD_DIR/server/promstore), PROMETHEUS (prometheus),
# TARGETS (default "lmdb sqlite prometheus"). Loopback only, bounded in time.
set -euo pipefail

build=${1:-build}
DURATION=${DURATION:-20} SENDERS=${SENDERS:-4} HOSTS=${HOSTS:-100} REQUESTS=${REQUESTS:-10000}
SERVER=${SERVER:-$build/server/promstore}
PROMETHEUS=${PROMETHEUS:-prometheus}
TARGETS=${TARGETS:-lmdb sqlite prometheus}
loadgen=$build/bench/loadgen/promstore-loadgen
[[ -x $loadgen ]] || { echo "no $loadgen: build first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/promstore-ingest.XXXXXX")
target_pid=""
cleanup() {
  if [[ -n $target_pid ]]; then kill -KILL "$target_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # a port in 20000-31999 that nothing accepts connections on
  local i p
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range (tests/e2e/run_e2e.sh)
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

start_target() { # start_target NAME PORT DIR: sets target_pid, waits for /-/ready
  case $1 in
    prometheus)
      printf 'global: {}\n' >"$work/prom.yml"
      "$PROMETHEUS" --config.file="$work/prom.yml" --storage.tsdb.path="$3" \
        --web.listen-address="127.0.0.1:$2" --web.enable-remote-write-receiver \
        >"$work/$1.log" 2>&1 &
      ;;
    *)
      "$SERVER" --storage.backend="$1" --storage.path="$3" \
        --web.listen-address="127.0.0.1:$2" >"$work/$1.log" 2>&1 &
      ;;
  esac
  target_pid=$!
  local i
  for ((i = 0; i < 300; i++)); do
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$2/-/ready" && return 0
    kill -0 "$target_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not become ready; log:" >&2
  tail -n 20 "$work/$1.log" >&2
  return 1
}

stop_target() { # TERM, then KILL after 15 s
  local i
  kill -TERM "$target_pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$target_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$target_pid" 2>/dev/null || true
  { wait "$target_pid"; } 2>/dev/null || true
  target_pid=""
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; } # field KEY "RESULT k=v ..."

end_ms=$(($(date +%s) * 1000)) # the same data for every target
lg_args=(--senders "$SENDERS" --hosts "$HOSTS" --requests "$REQUESTS" --duration "$DURATION"
  --end-ms "$end_ms")
echo "load: $SENDERS senders, $HOSTS hosts, up to $REQUESTS requests x 2000 samples, $DURATION s per target"
echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) (other work skews the figures)"
"$PROMETHEUS" --version 2>&1 | sed -n 1p
sink=$("$loadgen" "${lg_args[@]}" --sink)
echo "generator alone (in-process 204 sink):"
echo "  ${sink//$'\n'/$'\n'  }"

rows=()
for t in $TARGETS; do
  port=$(free_port)
  mkdir -p "$work/$t-data"
  if ! start_target "$t" "$port" "$work/$t-data"; then
    rows+=("$t|did not start|||||")
    stop_target
    continue
  fi
  out=$("$loadgen" "${lg_args[@]}" "http://127.0.0.1:$port/api/v1/write" 2>&1) || true
  hwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$target_pid/status" 2>/dev/null || echo "?")
  stop_target
  disk=$(du -sm "$work/$t-data" | cut -f1)
  res=$(grep '^RESULT' <<<"$out" || echo "RESULT")
  [[ $res != RESULT ]] || { echo "$t: loadgen failed:" >&2; echo "$out" >&2; }
  echo "$t: $(grep '^sent' <<<"$out" || true)"
  rows+=("$t|$(field samples_per_s "$res")|$(field p50_ms "$res")|$(field p99_ms "$res")|$(field max_ms "$res")|$hwm|$disk|$(field codes "$res")")
  rm -rf "${work:?}/$t-data"
done

echo
printf '%-12s %12s %9s %9s %9s %9s %8s  %s\n' target samples/s p50_ms p99_ms max_ms peak_MB disk_MB status
for r in "${rows[@]}"; do
  IFS='|' read -r t sps p50 p99 mx hwm disk codes <<<"$r"
  printf '%-12s %12s %9s %9s %9s %9s %8s  %s\n' "$t" "$sps" "$p50" "$p99" "$mx" "$hwm" "$disk" "$codes"
done
