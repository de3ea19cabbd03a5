#!/usr/bin/env bash
# bench_ingest.sh BUILD_DIR -- remote-write ingest of the Go adapter next to
# the C server, in one run, with the same load generator
# (bench/loadgen/promstore-loadgen) and the same pre-encoded, byte-identical
# load: each target fresh, fed for DURATION seconds; targets alternate ROUNDS
# times to even out machine noise. Prints samples/s per run and the median.
#
# Env: DURATION (15), SENDERS (4), HOSTS (100), REQUESTS (10000 x 2000
# samples), BACKENDS ("lmdb"), ROUNDS (2). Loopback only, bounded in time.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$here/env.sh" "${1:?usage: bench_ingest.sh BUILD_DIR}"
DURATION=${DURATION:-15} SENDERS=${SENDERS:-4} HOSTS=${HOSTS:-100} REQUESTS=${REQUESTS:-10000}
BACKENDS=${BACKENDS:-lmdb} ROUNDS=${ROUNDS:-2}
loadgen=$build/bench/loadgen/promstore-loadgen
server=$build/server/promstore
adapter=$build/go-shim/promstore-adapter
[[ -x $loadgen && -x $server ]] || { echo "build $loadgen and $server first" >&2; exit 1; }
(cd "$here" && go build -o "$adapter" ./cmd/promstore-adapter)

work=$(mktemp -d "${TMPDIR:-/tmp}/go-shim-ingest.XXXXXX")
pid=""
trap '[[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

free_port() {
  local i p
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range (tests/e2e/run_e2e.sh)
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

end_ms=$(($(date +%s) * 1000))
args=(--senders "$SENDERS" --hosts "$HOSTS" --requests "$REQUESTS" --duration "$DURATION" --end-ms "$end_ms")
echo "load: $SENDERS senders, $HOSTS hosts, up to $REQUESTS requests x 2000 samples, $DURATION s per run; $(nproc) cores"
declare -A runs=()
for ((round = 1; round <= ROUNDS; round++)); do
  for backend in $BACKENDS; do
    for kind in c-server go-adapter; do
      bin=$server
      [[ $kind == go-adapter ]] && bin=$adapter
      port=$(free_port)
      rm -rf "$work/data"
      "$bin" --storage.backend="$backend" --storage.path="$work/data" \
        --web.listen-address="127.0.0.1:$port" --log.level=error >"$work/log" 2>&1 &
      pid=$!
      for ((i = 0; i < 300; i++)); do
        curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/-/ready" && break
        sleep 0.1
      done
      out=$("$loadgen" "${args[@]}" "http://127.0.0.1:$port/api/v1/write" 2>&1) || true
      hwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo "?")
      kill -TERM "$pid"
      for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      pid=""
      res=$(grep '^RESULT' <<<"$out" || echo "RESULT")
      sps=$(sed -n 's/.* samples_per_s=\([^ ]*\).*/\1/p' <<<"$res")
      p99=$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<<"$res")
      codes=$(sed -n 's/.* codes=\([^ ]*\).*/\1/p' <<<"$res")
      printf 'round %d %-7s %-11s %12s samples/s  p99 %6s ms  peak %5s MB  %s\n' "$round" "$backend" "$kind" "${sps:-?}" "${p99:-?}" "$hwm" "$codes"
      runs[$backend/$kind]+="${sps:-0} "
    done
  done
done
echo
for backend in $BACKENDS; do
  med() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
  c=$(med "${runs[$backend/c-server]}") g=$(med "${runs[$backend/go-adapter]}")
  awk -v b="$backend" -v c="$c" -v g="$g" 'BEGIN {
    printf "%s: C server %.0f samples/s, Go adapter %.0f samples/s (median): adapter/C = %.1f%%\n", b, c, g, (c > 0 ? 100 * g / c : 0) }'
done
