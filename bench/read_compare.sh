#!/usr/bin/env bash
# read_compare.sh [BUILD_DIR] -- remote-read latency and server memory, per
# backend (LMDB, SQLite), for both response types: SAMPLES (what Prometheus
# 2.42 asks for: no accepted_response_types) and STREAMED_XOR_CHUNKS (what
# Prometheus >= 2.55 asks for first).
#
# For each backend, two fresh stores, each filled over HTTP by
# promstore-loadgen (node_exporter-like hosts, ~1017 series each):
#   A. HOSTS hosts (100: ~100k series) x SCRAPES scrapes (20: 5 min of data),
#      read back with promstore-readbench as
#        1 series   __name__="node_load1", instance="host-0:9100"
#        1k series  instance="host-0:9100" (one host)
#        all        __name__=~".+" (every series in the store)
#   B. BIG_HOSTS hosts (1000: ~1M series) x 1 scrape (one sample per series),
#      read back as __name__=~".+": SAMPLES is expected to stop at a limit with
#      a 400 naming it; STREAMED to stream every series. This read is done
#      on the server that just ingested the store, then again on a freshly
#      restarted server (same store), to separate the read's memory from what
#      ingest left behind.
#   A+ and B+: the SAMPLES read of everything once more, on a server restarted
#      with --storage.remote.max-decoded-bytes=RAISED (256MiB), to show what
#      the default 32 MiB cap saves.
# Around each read the server's peak-RSS mark is reset (echo 5 >
# /proc/PID/clear_refs), /proc/PID/status is sampled every 50 ms (VmRSS,
# RssAnon, RssFile), and VmHWM is read afterwards. LMDB maps its data file,
# so pages it reads count in VmRSS as file-backed (RssFile, reclaimable page
# cache shared with the kernel), not heap: RssAnon is the heap/stack part.
#
# Env: BACKENDS ("lmdb sqlite"), HOSTS (100), SCRAPES (20), BIG_HOSTS (1000),
# SENDERS (4), REPEAT_1 (20), REPEAT_1K (10), REPEAT_ALL (3), SERVER (default
# BUILD_DIR/server/promstore), READ_TIMEOUT (300 s per readbench run), FRESH
# (1: also read store B on a restarted server), RAISED (256MiB; empty: skip
# the A+/B+ reads). Loopback only, every step bounded in time, every process
# killed on exit.
set -euo pipefail

build=${1:-build}
BACKENDS=${BACKENDS:-lmdb sqlite}
HOSTS=${HOSTS:-100} SCRAPES=${SCRAPES:-20} BIG_HOSTS=${BIG_HOSTS:-1000} SENDERS=${SENDERS:-4}
REPEAT_1=${REPEAT_1:-20} REPEAT_1K=${REPEAT_1K:-10} REPEAT_ALL=${REPEAT_ALL:-3}
READ_TIMEOUT=${READ_TIMEOUT:-300} FRESH=${FRESH:-1} RAISED=${RAISED-256MiB}
SERVER=${SERVER:-$build/server/promstore}
loadgen=$build/bench/loadgen/promstore-loadgen
readbench=$build/bench/readbench/promstore-readbench
for b in "$SERVER" "$loadgen" "$readbench"; do
  [[ -x $b ]] || { echo "no $b: build first" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/promstore-read.XXXXXX")
server_pid="" sampler_pid=""
cleanup() {
  if [[ -n $sampler_pid ]]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=""
start_server() { # start_server BACKEND DIR [FLAG...]: sets server_pid and port (asks for port 0)
  local log=$work/server-$1.log i
  touch "$log"
  "$SERVER" --storage.backend="$1" --storage.path="$2" --web.listen-address=127.0.0.1:0 "${@:3}" \
    >>"$log" 2>&1 &
  server_pid=$!
  port=""
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n 's/.*msg="Listening on" address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | tail -n 1) || true
    if [[ -n $port ]] && curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/-/ready"; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "promstore ($1) did not become ready; log:" >&2
  tail -n 20 "$log" >&2
  return 1
}

stop_server() { # TERM, then KILL after 40 s (the server gives requests 30 s)
  local i
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for ((i = 0; i < 400; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "  (server $server_pid ignored SIGTERM for 40 s: killed)" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$server_pid" 2>/dev/null || rc=$?
  if ((rc != 0 && rc != 137)); then echo "  (server exited with status $rc)" >&2; fi
  server_pid=""
}

status_kb() { # status_kb PID KEY: a /proc/PID/status field in kB
  awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}

sampler() { # sampler PID OUT: peak VmRSS/RssAnon/RssFile (kB) every 50 ms while $work/sampling exists (<= 20 min)
  local pid=$1 out=$2 i k v rest rss=0 anon=0 file=0
  for ((i = 0; i < 24000; i++)); do
    [[ -e $work/sampling ]] || break
    [[ -r /proc/$pid/status ]] || break
    while read -r k v rest; do
      case $k in
        VmRSS:) if ((v > rss)); then rss=$v; fi ;;
        RssAnon:) if ((v > anon)); then anon=$v; fi ;;
        RssFile:) if ((v > file)); then file=$v; fi ;;
      esac
    done <"/proc/$pid/status" || break
    sleep 0.05
  done
  echo "$rss $anon $file" >"$out"
}

mb() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; } # field KEY "RESULT k=v ..."

rows=()
# run_read BACKEND STORE QUERY TYPE REPEAT MATCHER...: one readbench run with memory sampling
run_read() {
  local backend=$1 store=$2 query=$3 type=$4 repeat=$5
  shift 5
  local margs=() m
  for m in "$@"; do margs+=(--match "$m"); done
  local base_anon base_file
  base_anon=$(status_kb "$server_pid" RssAnon)
  base_file=$(status_kb "$server_pid" RssFile)
  echo 5 >"/proc/$server_pid/clear_refs" 2>/dev/null || echo "  (cannot reset VmHWM: it includes earlier peaks)" >&2
  : >"$work/sampling"
  rm -f "$work/peak"
  sampler "$server_pid" "$work/peak" &
  sampler_pid=$!
  local out rc=0 t0=$SECONDS
  out=$(timeout -k 5 "$READ_TIMEOUT" "$readbench" -q -T "$type" -n "$repeat" -s "$read_start" \
    -e "$read_end" -t $((READ_TIMEOUT * 1000)) "${margs[@]}" \
    "http://127.0.0.1:$port/api/v1/read" 2>&1) || rc=$?
  rm -f "$work/sampling"
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""
  local hwm pk_rss=0 pk_anon=0 pk_file=0
  hwm=$(status_kb "$server_pid" VmHWM)
  if [[ -s $work/peak ]]; then read -r pk_rss pk_anon pk_file <"$work/peak"; fi
  local alive=yes
  kill -0 "$server_pid" 2>/dev/null || alive=NO
  local res
  res=$(grep '^RESULT' <<<"$out" || echo "RESULT")
  local err
  err=$(sed -n 's/^readbench: error: //p' <<<"$out" | head -n 1)
  if ((rc == 124 || rc == 137)); then err="readbench timed out after $READ_TIMEOUT s${err:+; $err}"; fi
  printf '  %-6s %-4s %-9s %-8s status %-3s p50 %9s ms  p99 %9s ms  %11s B  %8s series  %9s samples  anon %4s->%4s MB  file %4s->%4s MB  HWM %4s MB  (%ds)%s\n' \
    "$backend" "$store" "$query" "$type" "$(field status "$res")" "$(field p50_ms "$res")" \
    "$(field p99_ms "$res")" "$(field bytes "$res")" "$(field series "$res")" \
    "$(field samples "$res")" "$(mb "$base_anon")" "$(mb "$pk_anon")" "$(mb "$base_file")" \
    "$(mb "$pk_file")" "$(mb "$hwm")" $((SECONDS - t0)) "${err:+  ERROR: $err}"
  if [[ $alive != yes ]]; then
    echo "  SERVER DIED during this read; log tail:"
    tail -n 5 "$work/server-$backend.log"
    err="server died${err:+; $err}"
  fi
  rows+=("$backend|$store|$query|$type|$(field status "$res")|$(field p50_ms "$res")|$(field p99_ms "$res")|$(field bytes "$res")|$(field series "$res")|$(field samples "$res")|$(mb "$base_anon")|$(mb "$pk_anon")|$(mb "$pk_file")|$(mb "$hwm")|${err:-}")
}

fill() { # fill HOSTS REQUESTS BATCH LABEL: remote-write with loadgen, report the rate
  local out rc=0
  out=$(timeout -k 5 300 "$loadgen" --senders "$SENDERS" --hosts "$1" --requests "$2" --batch "$3" \
    --duration 280 --end-ms "$end_ms" "http://127.0.0.1:$port/api/v1/write" 2>&1) || rc=$?
  echo "  fill $4: $(grep '^sent' <<<"$out" || echo "loadgen failed (exit $rc): $out")"
  ((rc == 0)) || echo "  WARNING: loadgen exit $rc: not every sample was accepted" >&2
}

sph=$("$loadgen" --dry-run --senders 1 --hosts 1 --requests 1 --batch 1 |
  sed -n 's/.* \([0-9]*\) series (.*/\1/p')
[[ $sph =~ ^[0-9]+$ ]] || { echo "cannot learn series per host from loadgen" >&2; exit 1; }
end_ms=$(($(date +%s) * 1000))
read_start=$((end_ms - 3600000)) read_end=$((end_ms + 60000))
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) (other work skews the figures)"
echo "store A: $HOSTS hosts x $sph series x $SCRAPES scrapes; store B: $BIG_HOSTS hosts x $sph series x 1 scrape"
echo "reads: one query over [end-1h, end+1m], one at a time, fresh connection each; server defaults (max_decoded_bytes 32MiB, read-sample-limit 5e7, frame 1MiB)"

for backend in $BACKENDS; do
  echo "== $backend"
  # --- store A: ~100k series, a few minutes of data
  mkdir -p "$work/$backend-a"
  start_server "$backend" "$work/$backend-a"
  fill "$HOSTS" $((HOSTS * SCRAPES)) "$sph" "A"
  echo "  store A on disk: $(du -sm "$work/$backend-a" | cut -f1) MB; server anon $(mb "$(status_kb "$server_pid" RssAnon)") MB, file $(mb "$(status_kb "$server_pid" RssFile)") MB after the fill"
  for type in samples streamed; do
    run_read "$backend" A "1 series" "$type" "$REPEAT_1" '__name__=node_load1' 'instance=host-0:9100'
    run_read "$backend" A "1k series" "$type" "$REPEAT_1K" 'instance=host-0:9100'
    run_read "$backend" A "all" "$type" "$REPEAT_ALL" '__name__=~.+'
  done
  if [[ -n $RAISED ]]; then
    stop_server
    start_server "$backend" "$work/$backend-a" --storage.remote.max-decoded-bytes="$RAISED"
    run_read "$backend" A+ "all" samples "$REPEAT_ALL" '__name__=~.+'
  fi
  stop_server
  rm -rf "${work:?}/$backend-a"

  # --- store B: ~1M series, one sample each
  mkdir -p "$work/$backend-b"
  start_server "$backend" "$work/$backend-b"
  fill "$BIG_HOSTS" "$BIG_HOSTS" "$sph" "B"
  echo "  store B on disk: $(du -sm "$work/$backend-b" | cut -f1) MB; server anon $(mb "$(status_kb "$server_pid" RssAnon)") MB, file $(mb "$(status_kb "$server_pid" RssFile)") MB after the fill"
  run_read "$backend" B "all" samples 1 '__name__=~.+'
  run_read "$backend" B "all" streamed 1 '__name__=~.+'
  if ((FRESH)); then
    stop_server
    start_server "$backend" "$work/$backend-b"
    echo "  restarted on store B: anon $(mb "$(status_kb "$server_pid" RssAnon)") MB, file $(mb "$(status_kb "$server_pid" RssFile)") MB"
    run_read "$backend" "B*" "all" streamed 1 '__name__=~.+'
    run_read "$backend" "B*" "all" samples 1 '__name__=~.+'
  fi
  if [[ -n $RAISED ]]; then
    stop_server
    start_server "$backend" "$work/$backend-b" --storage.remote.max-decoded-bytes="$RAISED"
    run_read "$backend" B+ "all" samples 1 '__name__=~.+'
  fi
  stop_server
  rm -rf "${work:?}/$backend-b"
done

echo
echo "B* = store B on a freshly restarted server; A+, B+: restarted with --storage.remote.max-decoded-bytes=$RAISED."
echo "anon0/anonpk/filepk: RssAnon before the read, peaks of RssAnon/RssFile sampled every 50 ms during it;"
echo "HWM: VmHWM (exact peak of anon+file+shmem) since the reset just before the read."
printf '%-7s %-5s %-10s %-9s %6s %10s %10s %12s %8s %9s %9s %9s %9s %7s\n' backend store query type status p50_ms p99_ms bytes series samples anon0_MB anonpk_MB filepk_MB HWM_MB
for r in "${rows[@]}"; do
  IFS='|' read -r b s q t st p50 p99 by se sa a0 ap fp h e <<<"$r"
  printf '%-7s %-5s %-10s %-9s %6s %10s %10s %12s %8s %9s %9s %9s %9s %7s\n' "$b" "$s" "$q" "$t" "$st" "$p50" "$p99" "$by" "$se" "$sa" "$a0" "$ap" "$fp" "$h"
done
errs=0
for r in "${rows[@]}"; do
  IFS='|' read -r b s q t st _ _ _ _ _ _ _ _ _ e <<<"$r"
  if [[ -n $e ]]; then
    if ((errs == 0)); then echo "answers other than a checked 200:"; fi
    errs=$((errs + 1))
    echo "  $b $s $q $t: $e"
  fi
done
echo "total time: ${SECONDS}s"
